"""The model runtime used by inference workers. TensorFlow is imported lazily, in the process that scores."""
