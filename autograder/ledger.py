"""The grading ledger: what happened to each submission, kept beside the gradebook.

One JSON file in the grading folder, rewritten atomically after every submission, so a grader
that crashes or is killed mid-batch loses nothing already recorded. It remembers each
submission's fingerprint (a re-run skips what is graded and unchanged), why a submission could
not be graded, the notes from taking it in, the policy's findings and the gradebook overrides
to undo before grading it again. The grading report and the grades export read it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

NAME = "grading-ledger.json"


class Ledger:
    def __init__(self, workdir: Path):
        self.path = Path(workdir) / NAME
        try:
            self.entries: dict = json.loads(self.path.read_text()) if self.path.exists() else {}
        except json.JSONDecodeError as err:
            raise ValueError(f"{self.path}: damaged ({err}); move it aside to grade again "
                             "from scratch (the gradebook keeps the scores)") from None

    @staticmethod
    def key(student: str, assignment: str) -> str:
        return f"{student}/{assignment}"

    def get(self, student: str, assignment: str) -> dict:
        return self.entries.get(self.key(student, assignment), {})

    def record(self, student: str, assignment: str, **entry) -> None:
        """Store one submission's entry and write the whole ledger to disk at once."""
        self.entries[self.key(student, assignment)] = {"student": student,
                                                       "assignment": assignment, **entry}
        self._write()

    def forget(self, keys) -> None:
        """Drop these entries (e.g. layout mistakes the student has since fixed)."""
        keys = [key for key in keys if key in self.entries]
        for key in keys:
            del self.entries[key]
        if keys:
            self._write()

    def _write(self) -> None:
        temporary = self.path.with_suffix(f".tmp{os.getpid()}")
        temporary.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
        os.replace(temporary, self.path)  # atomic: a kill leaves the old or the new file

    def report(self) -> str:
        """Plain-text grading report: every submission that needs a look, and why."""
        lines = []
        for key, entry in sorted(self.entries.items()):
            items = ([f"NOT GRADED: {entry['reason']}"] if entry.get("status") != "graded" else [])
            items += [f"note: {note}" for note in entry.get("notes", [])]
            items += [f"{f['kind'].upper()}: {f['reason']} (tests scored 0: "
                      f"{', '.join(f['tests']) or 'none'})" for f in entry.get("findings", [])]
            if items:
                lines += [key] + [f"  {item}" for item in items]
        if not self.entries:
            return "Nothing has been graded in this folder yet.\n"
        if not lines:
            return "Every submission was graded; nothing was flagged.\n"
        return "\n".join(lines) + "\n"
