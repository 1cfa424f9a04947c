from pathlib import Path

from django import forms

from .architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE


class TrainingRunForm(forms.Form):
    dataset = forms.CharField(help_text="folder on the training worker with {train,valid,test}/{real,fake}/ or {real,fake}/")
    architecture = forms.ChoiceField(choices=[(a, a) for a in ARCHITECTURES], initial=DEFAULT_ARCHITECTURE)
    input_size = forms.IntegerField(min_value=32, max_value=1024, required=False, help_text="pixels; empty for the architecture's own")
    epochs = forms.IntegerField(min_value=1, max_value=500, initial=20)
    batch_size = forms.IntegerField(min_value=1, max_value=1024, initial=32)
    weights = forms.CharField(initial="imagenet", help_text="imagenet, none, or the path of a backbone weights file")
    learning_rate = forms.FloatField(min_value=1e-7, max_value=1.0, initial=1e-3)
    fine_tune_learning_rate = forms.FloatField(min_value=1e-7, max_value=1.0, initial=1e-4)
    frozen_epochs = forms.IntegerField(min_value=0, max_value=100, initial=2)
    max_minutes = forms.FloatField(min_value=0, required=False, help_text="time budget; empty for none")
    augment = forms.BooleanField(required=False, initial=True, help_text="flip, zoom, brightness, rotation, JPEG, blur")

    def clean_dataset(self):
        path = Path(self.cleaned_data["dataset"])
        if not path.is_dir():
            raise forms.ValidationError(f"{path} is not a folder")
        return str(path)

    def to_config(self):
        from .pipeline import Augmentation

        data = dict(self.cleaned_data)
        augment = data.pop("augment")
        data["input_size"] = data["input_size"] or 0
        data["max_minutes"] = data["max_minutes"] or 0
        data["augmentation"] = (Augmentation() if augment else Augmentation.none()).to_dict()
        return data
