"""The app-wide scheduler: the job table (`jobs`), the runner (`runner`) and the process
with its leader election (`scheduler`). Each job itself lives in its domain's `tasks.py`."""
