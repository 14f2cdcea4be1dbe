"""Compare experiments in the chat database: a prompt × up to four variants, each stored with its full sampler
settings and seed, its answer, figures and packed frames — so an experiment can be reopened, re-run and exported.

Shares the `ChatStore`'s connection (the GUI thread's, with its short busy timeout); each public write is one
transaction, and a variant is written at canvas boundaries and at its end, never per frame.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from engine.events import Frame

from ..canvas.frame_codec import decode_canvas
from .chats import ChatStore, Message, title_from

MAX_VARIANTS = 4


@dataclass(frozen=True)
class VariantSpec:
    """What one column asks for: its seed, preset name, system prompt, prompt ("" = the experiment's) and the
    full sampler settings (seed included) it runs with."""

    seed: int
    preset: str
    system_prompt: str
    prompt: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class Variant:
    """One stored column: its spec, and its answer once run (`status` new, done, cancelled or error)."""

    id: int
    experiment_id: int
    column: int
    spec: VariantSpec
    text: str
    stats: dict[str, Any] | None
    status: str
    thinking: str = ""  # the thought of a variant asked with thinking on ("" otherwise)

    @property
    def seed(self) -> int:
        return self.spec.seed


@dataclass(frozen=True)
class Experiment:
    """A prompt compared across variants; `context` holds the earlier turns of the chat it came from."""

    id: int
    title: str
    prompt: str
    context: list[dict[str, str]]
    conversation_id: int | None
    model: str
    created_at: float
    updated_at: float


def _experiment(row: sqlite3.Row) -> Experiment:
    return Experiment(row["id"], row["title"], row["prompt"], json.loads(row["context_json"] or "[]"),
                      row["conversation_id"], row["model"], row["created_at"], row["updated_at"])


def _variant(row: sqlite3.Row) -> Variant:
    spec = VariantSpec(row["seed"], row["preset"], row["system_prompt"], row["prompt"],
                       json.loads(row["settings_json"]))
    stats = json.loads(row["stats_json"]) if row["stats_json"] else None
    return Variant(row["id"], row["experiment_id"], row["column_index"], spec, row["text"], stats, row["status"],
                   row["thinking"])


def effective_prompt(experiment: Experiment, spec: VariantSpec) -> str:
    """The question a variant asks: its own edited prompt, else the experiment's."""
    return spec.prompt.strip() or experiment.prompt


def variant_messages(experiment: Experiment, spec: VariantSpec) -> list[dict[str, str]]:
    """The chat a variant answers: its system prompt, the experiment's earlier turns, then its question."""
    chat = [{"role": "system", "content": spec.system_prompt}] if spec.system_prompt.strip() else []
    chat += [dict(m) for m in experiment.context if m.get("role") in ("user", "assistant")]
    return chat + [{"role": "user", "content": effective_prompt(experiment, spec)}]


class ExperimentStore:
    """Experiments and their variants, on the chat store's connection (GUI thread, like the `ChatStore`)."""

    def __init__(self, store: ChatStore) -> None:
        self.store = store

    @property
    def _conn(self) -> sqlite3.Connection:
        return self.store._conn  # noqa: SLF001 - one connection per database file, shared by design

    def _tx(self):  # noqa: ANN202
        return self.store._tx()  # noqa: SLF001

    # -- experiments ----------------------------------------------------------------------------------------------
    def create(self, prompt: str, variants: list[VariantSpec], *, context: list[dict[str, str]] | None = None,
               conversation_id: int | None = None, model: str = "") -> Experiment:
        """A new experiment with its variants (none run yet), in one transaction."""
        if not 1 <= len(variants) <= MAX_VARIANTS:
            raise ValueError(f"an experiment has 1 to {MAX_VARIANTS} variants (got {len(variants)})")
        now = time.time()
        title = " ".join(prompt.split())[:60] or "Experiment"
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO experiments (title, prompt, context_json, conversation_id, model, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (title, prompt, json.dumps(context or []), conversation_id, model, now, now),
            )
            experiment_id = int(cur.lastrowid)
            self._insert_variants(c, experiment_id, variants)
        return self.experiment(experiment_id)

    def replace_variants(self, experiment_id: int, variants: list[VariantSpec], model: str = "") -> None:
        """Run an experiment again: its variants are replaced by `variants` (results and frames cleared)."""
        with self._tx() as c:
            c.execute("DELETE FROM experiment_variants WHERE experiment_id = ?", (experiment_id,))
            self._insert_variants(c, experiment_id, variants)
            c.execute("UPDATE experiments SET updated_at = ?, model = COALESCE(NULLIF(?, ''), model) WHERE id = ?",
                      (time.time(), model, experiment_id))

    @staticmethod
    def _insert_variants(c: sqlite3.Connection, experiment_id: int, variants: list[VariantSpec]) -> None:
        for column, spec in enumerate(variants):
            settings = {**spec.settings, "seed": spec.seed}
            c.execute(
                "INSERT INTO experiment_variants (experiment_id, column_index, seed, preset, system_prompt, prompt, "
                "settings_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (experiment_id, column, spec.seed, spec.preset, spec.system_prompt, spec.prompt,
                 json.dumps(settings)),
            )

    def experiment(self, experiment_id: int) -> Experiment:
        """One experiment; KeyError when it does not exist."""
        row = self.store.read_one("SELECT * FROM experiments WHERE id = ?", (experiment_id,))
        if row is None:
            raise KeyError(experiment_id)
        return _experiment(row)

    def experiments(self) -> list[Experiment]:
        """Every experiment, newest first."""
        rows = self.store.read("SELECT * FROM experiments ORDER BY updated_at DESC, id DESC")
        return [_experiment(r) for r in rows]

    def delete(self, experiment_id: int) -> None:
        """Delete an experiment with its variants and frames."""
        with self._tx() as c:
            c.execute("DELETE FROM experiments WHERE id = ?", (experiment_id,))

    # -- variants -------------------------------------------------------------------------------------------------
    def variants(self, experiment_id: int) -> list[Variant]:
        """An experiment's variants in column order."""
        rows = self.store.read(
            "SELECT * FROM experiment_variants WHERE experiment_id = ? ORDER BY column_index", (experiment_id,))
        return [_variant(r) for r in rows]

    def variant(self, variant_id: int) -> Variant:
        """One variant; KeyError when it does not exist."""
        row = self.store.read_one("SELECT * FROM experiment_variants WHERE id = ?", (variant_id,))
        if row is None:
            raise KeyError(variant_id)
        return _variant(row)

    def save_canvas(self, variant_id: int, text: str, canvas_index: int, blob: bytes, steps: int,
                    length: int) -> None:
        """A variant's canvas boundary: its text so far and that canvas's packed frames, in one transaction."""
        with self._tx() as c:
            c.execute("UPDATE experiment_variants SET text = ?, status = 'running' WHERE id = ?", (text, variant_id))
            c.execute("INSERT OR REPLACE INTO variant_frames (variant_id, canvas_index, steps, canvas_length, data) "
                      "VALUES (?, ?, ?, ?, ?)", (variant_id, canvas_index, steps, length, blob))

    def finish(self, variant_id: int, *, text: str, stats: dict[str, Any] | None, status: str,
               thinking: str = "") -> None:
        """A variant's end: final text (and thought), figures and status."""
        with self._tx() as c:
            c.execute("UPDATE experiment_variants SET text = ?, thinking = ?, stats_json = ?, status = ? WHERE id = ?",
                      (text, thinking, json.dumps(stats) if stats is not None else None, status, variant_id))

    def frame_blobs(self, variant_id: int) -> list[tuple[int, int, int, bytes]]:
        """(canvas_index, steps, canvas_length, packed frames) of a variant, in canvas order."""
        rows = self.store.read("SELECT canvas_index, steps, canvas_length, data FROM variant_frames "
                                  "WHERE variant_id = ? ORDER BY canvas_index", (variant_id,))
        return [(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def frames(self, variant_id: int) -> list[list[Frame]]:
        """Every stored frame of a variant, one list per canvas (for its replay)."""
        return [decode_canvas(blob, index) for index, _s, _l, blob in self.frame_blobs(variant_id)]

    # -- into the chat --------------------------------------------------------------------------------------------
    def continue_in_chat(self, variant_id: int, *, model: str, thinking_on: bool = False) -> Message:
        """Put a variant's answer into a chat as the assistant answer to its question, with its seed, settings,
        figures and frames, in one transaction. The experiment's chat takes it when its last question is the
        variant's (an answer already there is replaced, like Regenerate does; the variant's system prompt becomes
        the chat's); otherwise a new chat holds the earlier turns, the question and the answer. The variant's thought
        goes with its answer; `thinking_on` (a variant asked with thinking) ticks Thinking in that chat."""
        variant = self.variant(variant_id)
        experiment = self.experiment(variant.experiment_id)
        question = effective_prompt(experiment, variant.spec)
        blobs = self.frame_blobs(variant_id)
        now = time.time()
        with self._tx() as c:
            conversation_id, position = self._chat_for(c, experiment, question)
            if conversation_id is None:
                cur = c.execute("INSERT INTO conversations (title, system_prompt, thinking, created_at, updated_at) "
                                "VALUES (?, ?, ?, ?, ?)",
                                (title_from(question), variant.spec.system_prompt, int(thinking_on), now, now))
                conversation_id, position = int(cur.lastrowid), 0
                for turn in [*experiment.context, {"role": "user", "content": question}]:
                    c.execute("INSERT INTO messages (conversation_id, position, role, text, created_at, updated_at) "
                              "VALUES (?, ?, ?, ?, ?, ?)", (conversation_id, position, turn["role"],
                                                           turn["content"], now, now))
                    position += 1
            else:
                c.execute("DELETE FROM messages WHERE conversation_id = ? AND position >= ?",
                          (conversation_id, position))
                c.execute("UPDATE conversations SET system_prompt = ?, thinking = ? WHERE id = ?",
                          (variant.spec.system_prompt, int(thinking_on), conversation_id))
            cur = c.execute(
                "INSERT INTO messages (conversation_id, position, role, text, thinking, seed, settings_json, "
                "stats_json, model, status, created_at, updated_at) "
                "VALUES (?, ?, 'assistant', ?, ?, ?, ?, ?, ?, 'done', ?, ?)",
                (conversation_id, position, variant.text, variant.thinking, variant.seed,
                 json.dumps(variant.spec.settings),
                 json.dumps(variant.stats) if variant.stats is not None else None, model or experiment.model,
                 now, now),
            )
            message_id = int(cur.lastrowid)
            for index, steps, length, blob in blobs:
                c.execute("INSERT INTO canvas_frames (message_id, canvas_index, steps, canvas_length, data) "
                          "VALUES (?, ?, ?, ?, ?)", (message_id, index, steps, length, blob))
            c.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conversation_id))
            c.execute("UPDATE experiments SET conversation_id = ? WHERE id = ?", (conversation_id, experiment.id))
        return self.store.message(message_id)

    @staticmethod
    def _chat_for(c: sqlite3.Connection, experiment: Experiment, question: str) -> tuple[int | None, int]:
        """The experiment's chat and the position its answer takes, when that chat's last question is `question`."""
        if experiment.conversation_id is None:
            return None, 0
        row = c.execute("SELECT position, text FROM messages WHERE conversation_id = ? AND role = 'user' "
                        "ORDER BY position DESC LIMIT 1", (experiment.conversation_id,)).fetchone()
        if row is None or row["text"].strip() != question.strip():
            return None, 0
        return experiment.conversation_id, int(row["position"]) + 1
