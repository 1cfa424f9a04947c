from pathlib import Path

from django import forms

from .architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE


class TrainingRunForm(forms.Form):
    dataset = forms.CharField(help_text="folder on the training worker with {train,valid,test}/{real,fake}/ or {real,fake}/")
    architecture = forms.ChoiceField(choices=[(a, a) for a in ARCHITECTURES], initial=DEFAULT_ARCHITECTURE)
    input_size = forms.IntegerField(min_value=32, max_value=1024, required=False, help_text="pixels; empty for the architecture's own")
    crop = forms.IntegerField(
        min_value=0, required=False,
        help_text="train on random windows of this many pixels, never resampled (validation and serving see the whole "
                  "image); empty: the whole image",
    )  # fmt: skip
    epochs = forms.IntegerField(min_value=1, max_value=500, initial=5)
    batch_size = forms.IntegerField(min_value=1, max_value=1024, initial=32)
    weights = forms.CharField(initial="imagenet", help_text="imagenet, none, or the path of a backbone weights file")
    learning_rate = forms.FloatField(min_value=1e-7, max_value=1.0, initial=1e-3)
    fine_tune_learning_rate = forms.FloatField(min_value=1e-7, max_value=1.0, initial=1e-4)
    frozen_epochs = forms.IntegerField(min_value=0, max_value=100, initial=0, help_text="epochs with the backbone frozen first")
    label_smoothing = forms.FloatField(min_value=0, max_value=0.5, required=False)
    mixup = forms.FloatField(min_value=0, max_value=10, required=False, help_text="Beta parameter; empty: no mixup")
    cutmix = forms.FloatField(min_value=0, max_value=10, required=False,
                              help_text="Beta parameter; empty: no CutMix (one of mixup and CutMix)")
    max_minutes = forms.FloatField(min_value=0, required=False, help_text="time budget; empty for none")
    augment = forms.ChoiceField(
        choices=[("flips", "horizontal flips only (the measured best)"),
                 ("robust", "the robustness set: flips, zoom, brightness, rotation, JPEG, blur"), ("none", "none")],
        initial="flips",
    )  # fmt: skip

    def clean_dataset(self):
        path = Path(self.cleaned_data["dataset"])
        if not path.is_dir():
            raise forms.ValidationError(f"{path} is not a folder")
        return str(path)

    def clean(self):
        from .trainer import TrainConfig

        cleaned = super().clean()
        if not self.errors:
            try:  # what the trainer would refuse (a crop larger than the image, an architecture that cannot crop)
                TrainConfig(output="", **self.to_config())
            except ValueError as exc:
                raise forms.ValidationError(str(exc)) from None
        return cleaned

    def to_config(self):
        from .pipeline import Augmentation
        from .trainer import plain_augmentation

        data = dict(self.cleaned_data)
        augment = data.pop("augment")
        for name in ("input_size", "crop", "max_minutes", "label_smoothing", "mixup", "cutmix"):
            data[name] = data[name] or 0
        data["augmentation"] = {"flips": plain_augmentation(), "robust": Augmentation(), "none": Augmentation.none()}[augment].to_dict()
        return data
