"""The demo model's help desk: a small fact sheet about Diffusion Desk and DiffusionGemma (skill f).

Every fact has one exact answer, written from the README and the app as they are, and is asked in many
phrasings: question frames of its kind × a few topic wordings. Two frames per fact are held out of training
(rotating over the facts, so every frame is still seen with other facts): those phrasings are the evaluation's.
When the app changes, change the answer here, retrain, and the model card's fact list follows (`FACTS`).
"""

from __future__ import annotations

from dataclasses import dataclass

# Question frames per kind of question; `{t}` is the topic.
FRAMES: dict[str, tuple[str, ...]] = {
    "how": ("How do I {t}?", "How can I {t}?", "How to {t}?", "how do i {t}", "What is the way to {t}?",
            "Tell me how to {t}.", "Can you tell me how to {t}?", "Help me {t}.", "Show me how to {t}.",
            "I want to {t}. How?", "How would I {t}?", "Explain how to {t}.", "What do I do to {t}?", "Steps to {t}?"),
    "what": ("What is {t}?", "what is {t}", "What's {t}?", "Tell me about {t}.", "Can you explain {t}?",
             "Describe {t}.", "What exactly is {t}?", "Explain {t} to me.", "Explain what {t} is.",
             "Tell me what {t} is.", "What does {t} mean?"),
    "where": ("Where are {t}?", "where are {t}", "Where do I find {t}?", "Where can I find {t}?",
              "Where does the app keep {t}?", "Where are {t} kept?", "Where do {t} live?", "Where are {t} saved?",
              "Where would I find {t}?", "Where does Diffusion Desk store {t}?", "Where are {t} stored?"),
    "size": ("How big is {t}?", "How large is {t}?", "What size is {t}?", "How many GB is {t}?",
             "how big is {t}", "What is the size of {t}?", "How much disk does {t} take?", "Is {t} big?",
             "What is the download size of {t}?", "How many gigabytes is {t}?", "How heavy is {t}?"),
    "need": ("Which GPU do I need for {t}?", "What card do I need for {t}?", "Which graphics card runs {t}?",
             "What hardware do I need for {t}?", "which gpu do i need for {t}", "What GPU runs {t}?",
             "How much VRAM does {t} need?", "Can my GPU run {t}?", "What do I need to run {t}?", "Which GPU runs {t}?",
             "What GPU is needed for {t}?"),
    "card": ("Which load profile for {t}?", "What profile should I use on {t}?", "Can I run it on {t}?",
             "Does it fit on {t}?", "Will it run on {t}?", "I have {t}. What should I use?",
             "Best profile for {t}?", "which profile fits {t}", "What works on {t}?", "What should I pick for {t}?",
             "Is {t} enough?"),
    "mean": ("What do {t} mean?", "what do {t} mean", "What are {t}?", "Explain {t}.", "What do {t} show?",
             "Tell me about {t}.", "Why are there {t}?", "What are {t} for?", "What do {t} tell me?",
             "How do I read {t}?", "What is the meaning of {t}?"),
    "without": ("Can I use it without {t}?", "Does it work without {t}?", "What if I have no {t}?",
                "can i run it without {t}", "Does the app need {t}?", "Is {t} required?",
                "Will it work without {t}?", "Do I need {t}?", "Is it possible without {t}?", "Can it run without {t}?",
                "Can I try it without {t}?"),
}


@dataclass(frozen=True)
class Fact:
    """One help-desk fact: the exact answer and the ways it is asked."""

    key: str
    kind: str  # a FRAMES key, or "" for `questions` written out in full
    topics: tuple[str, ...]
    answer: str
    questions: tuple[str, ...] = ()  # kind "": training questions
    held_out: tuple[str, ...] = ()  # kind "": evaluation questions


FACTS: tuple[Fact, ...] = (
    Fact("download", "how", ("download DiffusionGemma", "download the real model", "get the full model",
                             "get DiffusionGemma", "download the model", "get the 26B model", "install DiffusionGemma"),
         "Open the Models page, paste your Hugging Face token, then press Download next to DiffusionGemma."),
    Fact("token", "how", ("get a Hugging Face token", "get a token", "log in to Hugging Face", "fix a 401 error",
                          "get an HF token", "sign in to Hugging Face", "make a read token"),
         "Accept the licence on the model's Hugging Face page, create a read token, paste it on the Models page."),
    Fact("token_kept", "where", ("my token", "my Hugging Face token", "the HF token", "tokens", "my access token",
                                 "the token I pasted", "saved tokens"),
         "Your Hugging Face token is kept in the system keyring, never in a plain file."),
    Fact("size", "size", ("DiffusionGemma", "the real model", "the 26B model", "the download", "DiffusionGemma 26B",
                          "the model download", "the weights"),
         "DiffusionGemma 26B-A4B is about 52 GB in bf16 and about 26 GB in fp8 or int8."),
    Fact("need", "need", ("DiffusionGemma", "the real model", "the full model", "bf16", "the 26B model",
                          "DiffusionGemma in bf16", "the model"),
         "In bf16 it needs about 52 GB: an RTX PRO 6000, a DGX Spark or a data-center GPU."),
    Fact("card24", "card", ("an RTX 4090", "a 24 GB card", "a 4090", "an RTX 3090", "a 24 GB GPU", "my 4090",
                            "a GeForce RTX 4090"),
         "A 24 GB card like the RTX 4090 runs it only with the offload profile, which is slow."),
    Fact("card32", "card", ("an RTX 5090", "a 32 GB card", "a 5090", "an RTX PRO 4500", "a 32 GB GPU", "my 5090",
                            "a GeForce RTX 5090"),
         "A 32 GB card like the RTX 5090 runs it with the fp8 profile."),
    Fact("card96", "card", ("a DGX Spark", "an RTX PRO 6000", "a 96 GB card", "a Spark", "a 96 GB GPU", "my DGX Spark",
                            "an RTX PRO 6000 Blackwell"),
         "A DGX Spark or an RTX PRO 6000 holds the full model in bf16."),
    Fact("profiles", "what", ("a load profile", "load profiles", "the load profiles", "fp8 or int8", "quantization",
                              "the offload profile", "a quantized profile"),
         "Load profiles are bf16, fp8, int8 and offload; the GPU page shows which one fits your card."),
    Fact("canvas", "what", ("the canvas", "the canvas view", "the grid", "the 16x16 grid", "the canvas panel",
                            "the live canvas", "the noise grid"),
         "The canvas shows the 256 slots of an answer turning from random noise into text, step by step."),
    Fact("colours", "mean", ("the colours", "the grey cells", "the colors on the canvas", "the pink cells",
                             "the cell colours", "the solid cells", "the light cells"),
         "Grey cells are noise, light ones are guesses, solid ones are settled and pink marks the end."),
    Fact("replay", "how", ("replay an answer", "watch the denoising again", "replay the canvas", "play the steps",
                           "replay the denoising", "watch an answer again", "step through the canvas"),
         "Press Play under the canvas to replay the steps; the arrow keys step through them one by one."),
    Fact("chats", "where", ("my chats", "my conversations", "the chats", "chat histories", "my chat history",
                            "saved chats", "old conversations"),
         "Chats are stored in chats.sqlite3 in the app's data folder, only on your machine."),
    Fact("export", "how", ("export a chat", "save a conversation", "export my chat", "save the chat as Markdown",
                           "export a conversation", "save my chat", "export to Markdown"),
         "Press Ctrl+E (Export) to save the chat as a Markdown file."),
    Fact("serve", "how", ("serve the model", "use the OpenAI API", "start a local server", "connect my editor",
                          "run a local API server", "use it from my code", "start the server"),
         "Open the Server page or run diffusion-desk serve: an OpenAI API at http://127.0.0.1:8765/v1."),
    Fact("gemma", "what", ("DiffusionGemma", "diffusiongemma", "block diffusion", "a diffusion model",
                           "Gemma diffusion", "the DiffusionGemma model", "the 26B-A4B model"),
         "DiffusionGemma is Google DeepMind's 26B-A4B block diffusion model: it writes a whole canvas at once."),
    Fact("desk", "what", ("Diffusion Desk", "this app", "diffusion desk", "this program", "the Diffusion Desk app",
                          "this application", "the app"),
         "Diffusion Desk is a desktop app that runs DiffusionGemma locally and shows every canvas denoise."),
    Fact("stop", "how", ("stop an answer", "stop the model", "cancel an answer", "stop generating", "stop generation",
                         "interrupt the model", "abort an answer"),
         "Press Esc or the Stop button; the canvases already committed stay."),
    Fact("regenerate", "how", ("get another answer", "regenerate an answer", "try again with a new seed",
                               "retry an answer", "redo an answer", "regenerate a reply", "get a different answer"),
         "Press Regenerate under the answer, with the same seed or a new one."),
    Fact("new_chat", "how", ("start a new chat", "open a new conversation", "start over", "make a new chat",
                             "begin a new chat", "create a new chat", "start a fresh conversation"),
         "Press Ctrl+N or + New chat to start a new conversation."),
    Fact("system", "how", ("set a system prompt", "change the system prompt", "give the model a role",
                           "add a system prompt", "edit the system prompt", "use a system prompt",
                           "set instructions for the model"),
         "Type it in the system prompt box above the chat; each conversation keeps its own."),
    Fact("thinking", "how", ("turn on thinking", "use thinking mode", "let the model think", "see the thoughts",
                             "enable thinking", "switch on thinking", "show the thinking"),
         "Tick Thinking above the chat; the thought is shown folded under the answer."),
    Fact("cpu", "without", ("a GPU", "an NVIDIA card", "CUDA", "a graphics card", "a CUDA GPU", "an NVIDIA GPU",
                            "a video card"),
         "Without an NVIDIA GPU the app runs in CPU mode with me, the tiny demo model."),
    Fact("compare", "how", ("compare answers", "compare seeds", "see variants side by side",
                            "try several seeds at once", "compare seeds side by side", "run several variants",
                            "compare prompts"),
         "Open Compare to run up to 4 seeds or prompts side by side in one batch."),
    Fact("rewrite", "how", ("rewrite part of an answer", "rewrite a sentence", "change one part of an answer",
                            "rewrite a selection", "rewrite a span", "redo part of an answer",
                            "fix one sentence in an answer"),
         "Select text in an answer and choose Rewrite selection; only that span is denoised again."),
    Fact("abilities", "", (),
         "I reverse words and phrases (Reverse: ...) and answer questions about Diffusion Desk.",
         questions=("What can you do?", "what can you do", "What are you good at?", "What do you know?",
                    "What can I ask you?", "How can you help me?", "What questions can you answer?",
                    "What can you help with?", "What do you do?", "what are you good at",
                    "What are your skills?", "Which questions can I ask?", "What do you know about?",
                    "Tell me what you can do.", "What are you for?"),
         held_out=("What things can you do?", "what can i ask you", "What are you able to do?")),
)

_HELD_OUT_FRAMES = 2


def _held_frames(index: int, kind: str) -> set[str]:
    frames = FRAMES[kind]
    start = (2 * index) % len(frames)
    return {frames[(start + k) % len(frames)] for k in range(_HELD_OUT_FRAMES)}


def _phrasings(index: int, fact: Fact, held: bool) -> tuple[str, ...]:
    if not fact.kind:
        return fact.held_out if held else fact.questions
    out = _held_frames(index, fact.kind)
    frames = [f for f in FRAMES[fact.kind] if (f in out) == held]
    return tuple(f.format(t=t) for f in frames for t in fact.topics)


TRAIN_QUESTIONS: tuple[tuple[str, ...], ...] = tuple(_phrasings(i, f, False) for i, f in enumerate(FACTS))
EVAL_QUESTIONS: tuple[tuple[str, ...], ...] = tuple(_phrasings(i, f, True) for i, f in enumerate(FACTS))


def facts_markdown() -> str:
    """The fact sheet as the model card's table: one example question (a held-out one) and the exact answer."""
    rows = ["| # | asked e.g. (held out of training) | answer |", "|---|---|---|"]
    for i, (fact, held) in enumerate(zip(FACTS, EVAL_QUESTIONS), 1):
        rows.append(f"| {i} | {held[0]} | {fact.answer} |")
    return "\n".join(rows)
