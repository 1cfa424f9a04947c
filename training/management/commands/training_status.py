from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from training.trainer import CONFIG_FILE, format_epoch_table, read_state, resume_config


class Command(BaseCommand):
    help = "Show the progress of training runs on disk (their state.json): epochs done, the epoch table, the best score."

    def add_arguments(self, parser):
        parser.add_argument("runs", nargs="*", help="run folders (default: every run under var/runs/)")

    def handle(self, *args, runs, **options):
        from training.services import runs_dir

        folders = [Path(r) for r in runs] or sorted(p for p in runs_dir().glob("*") if (p / CONFIG_FILE).exists())
        if not folders:
            raise CommandError("no training runs found")
        for folder in folders:
            state = read_state(folder)
            if state is None:
                self.stdout.write(f"{folder}: no finished epoch yet (or trained before progress was recorded)")
                continue
            config = resume_config(folder)
            if state["finished"]:
                status = "stopped early" if state["stopped_early"] else "finished"
            else:
                status = f"resumable: python manage.py train --resume {folder}"
            best = state["best"]
            self.stdout.write(
                f"{folder}: {state['epochs_done']} of {config.epochs} epochs, best {config.monitor} "
                f"{'-' if best is None else f'{best:.4f}'}; {status}"
            )
            self.stdout.write(format_epoch_table(state["rows"]))
