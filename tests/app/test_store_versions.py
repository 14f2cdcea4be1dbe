"""The store's issue-15 tables: a version-2 database upgrades with nothing lost; experiments keep every variant's
settings, seed, answer and frames; answer versions are appended, selected and survive reopening."""

from __future__ import annotations

import sqlite3

from app.canvas.frame_codec import encode_canvas
from app.store.chats import ChatStore
from app.store.experiments import ExperimentStore, VariantSpec, variant_messages
from app.store.migrations import MIGRATIONS, SCHEMA_VERSION
from app.store.versions import VersionStore
from tests.app.test_store import _frames


def test_a_version_2_database_upgrades_with_nothing_lost(tmp_path):
    path = tmp_path / "v2.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.executescript(MIGRATIONS[1])
    conn.execute("INSERT INTO conversations (title, system_prompt, thinking, created_at, updated_at) "
                 "VALUES ('old chat', 'Be brief.', 1, 1, 2)")
    conn.execute("INSERT INTO messages (conversation_id, position, role, text, created_at, updated_at) "
                 "VALUES (1, 0, 'user', 'What is 2 + 2?', 1, 1)")
    conn.execute("INSERT INTO messages (conversation_id, position, role, text, seed, settings_json, stats_json, "
                 "model, status, created_at, updated_at) VALUES (1, 1, 'assistant', '2 + 2 = 4.', 7, "
                 "'{\"seed\": 7}', '{\"tokens_per_second\": 5.0}', 'demo', 'done', 1, 1)")
    conn.execute("INSERT INTO canvas_frames VALUES (2, 0, 5, 16, ?)", (encode_canvas(_frames()),))
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()

    store = ChatStore(path)
    assert store._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    (conv,) = store.conversations()
    assert (conv.title, conv.system_prompt, conv.thinking) == ("old chat", "Be brief.", True)
    user, answer = store.messages(conv.id)
    assert (user.text, answer.text, answer.seed, answer.settings, answer.stats) == (
        "What is 2 + 2?", "2 + 2 = 4.", 7, {"seed": 7}, {"tokens_per_second": 5.0})
    assert store.canvas_frames(answer.id) == [_frames()]
    versions = VersionStore(store)
    assert versions.current(answer.id) == 1 and [v.text for v in versions.versions(answer.id)] == ["2 + 2 = 4."]
    assert ExperimentStore(store).experiments() == []
    store.close()


def test_versions_are_appended_selected_and_kept(tmp_path):
    path = tmp_path / "c.sqlite3"
    store = ChatStore(path)
    conv = store.create_conversation()
    store.add_user_message(conv.id, "q")
    answer = store.start_assistant(conv.id, seed=3, settings={}, model="m")
    store.finish_assistant(answer.id, text="The cat sat on the mat.", thinking="", stats=None, status="done")
    versions = VersionStore(store)
    assert versions.add(answer.id, "The dog sat on the mat.", instruction="a dog", span=(4, 7), seed=9) == 2
    assert store.message(answer.id).text == "The dog sat on the mat."
    assert versions.select(answer.id, 1) == "The cat sat on the mat."
    assert versions.add(answer.id, "The cat lay on the mat.", span=(8, 11)) == 3  # appended, nothing dropped
    assert versions.counts(conv.id) == {answer.id: (3, 3)}
    store.close()

    store = ChatStore(path)
    versions = VersionStore(store)
    kept = versions.versions(answer.id)
    assert [(v.number, v.text) for v in kept] == [
        (1, "The cat sat on the mat."), (2, "The dog sat on the mat."), (3, "The cat lay on the mat.")]
    assert (kept[1].instruction, kept[1].span, kept[1].seed) == ("a dog", (4, 7), 9)
    assert versions.current(answer.id) == 3 and store.message(answer.id).text == "The cat lay on the mat."
    store.close()


def test_experiment_keeps_variants_and_continues_into_its_chat(tmp_path):
    store = ChatStore(tmp_path / "c.sqlite3")
    conv = store.create_conversation(system_prompt="old system")
    store.add_user_message(conv.id, "Sort: b, a")
    old = store.start_assistant(conv.id, seed=1, settings={}, model="m")
    store.finish_assistant(old.id, text="old answer", thinking="", stats=None, status="done")
    experiments = ExperimentStore(store)
    specs = [VariantSpec(s, "defaults", "Be terse." if s == 2 else "", "", {"max_denoising_steps": 8})
             for s in (1, 2)]
    exp = experiments.create("Sort: b, a", specs, conversation_id=conv.id, model="demo")
    first, second = experiments.variants(exp.id)
    assert first.spec.settings == {"max_denoising_steps": 8, "seed": 1} and first.status == "new"
    assert variant_messages(exp, second.spec) == [{"role": "system", "content": "Be terse."},
                                                   {"role": "user", "content": "Sort: b, a"}]
    experiments.save_canvas(second.id, "a, b", 0, encode_canvas(_frames()), 5, 16)
    experiments.finish(second.id, text="a, b", stats={"tokens_per_second": 2.0}, status="done")
    assert experiments.frames(second.id) == [_frames()]

    message = experiments.continue_in_chat(second.id, model="demo")
    assert [m.text for m in store.messages(conv.id)] == ["Sort: b, a", "a, b"]  # replaced, like Regenerate
    assert (message.seed, message.settings["seed"], message.status) == (2, 2, "done")
    assert store.conversation(conv.id).system_prompt == "Be terse."
    assert store.canvas_frames(message.id) == [_frames()]

    store.add_user_message(conv.id, "another question")  # the chat moved on: Continue opens a new chat
    again = experiments.continue_in_chat(first.id, model="demo")
    assert again.conversation_id != conv.id
    assert [(m.role, m.text) for m in store.messages(again.conversation_id)] == [
        ("user", "Sort: b, a"), ("assistant", "")]
    experiments.delete(exp.id)
    assert experiments.experiments() == []
    store.close()


def test_a_variant_keeps_its_thought_across_an_upgrade_into_the_chat_and_the_exports(tmp_path):
    import json

    from app.compare.compare_export import experiment_json, experiment_markdown

    path = tmp_path / "v3.sqlite3"
    conn = sqlite3.connect(path)
    for step in MIGRATIONS[:3]:
        conn.executescript(step)
    conn.execute("INSERT INTO experiments (title, prompt, created_at, updated_at) VALUES ('e', 'Why?', 1, 1)")
    conn.execute("INSERT INTO experiment_variants (experiment_id, column_index, seed, settings_json, text, status) "
                 "VALUES (1, 0, 5, '{\"seed\": 5}', 'Because.', 'done')")
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()

    store = ChatStore(path)  # schema 3 → 4: the variant gains an empty thought, nothing else changes
    experiments = ExperimentStore(store)
    (old,) = experiments.variants(1)
    assert (old.text, old.thinking, old.status, old.seed) == ("Because.", "", "done", 5)
    exp = experiments.create("Why?", [VariantSpec(1, "thinking", "", "", {}), VariantSpec(2, "defaults", "", "", {})])
    thinker, plain = experiments.variants(exp.id)
    experiments.finish(thinker.id, text="Because it rains.", thinking="Rain makes things wet.", stats=None,
                       status="done")
    experiments.finish(plain.id, text="Because.", stats=None, status="done")
    thinker, plain = experiments.variants(exp.id)
    assert (thinker.thinking, plain.thinking) == ("Rain makes things wet.", "")
    assert "Thought:" in experiment_markdown(exp, [thinker, plain]) and "Rain makes things wet." in \
        experiment_markdown(exp, [thinker, plain])
    assert [v["thinking"] for v in json.loads(experiment_json(exp, [thinker, plain]))["variants"]] == [
        "Rain makes things wet.", ""]

    message = experiments.continue_in_chat(thinker.id, model="m", thinking_on=True)
    assert (message.text, message.thinking) == ("Because it rains.", "Rain makes things wet.")
    assert store.conversation(message.conversation_id).thinking  # the chat goes on thinking, as the variant did
    store.close()
