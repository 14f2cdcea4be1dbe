"""The copyable client examples the Server panel shows: curl and the official openai-python client."""

from __future__ import annotations

import json

from ..chat.example_prompts import DEMO_EXAMPLES, examples_for

KEY_VARIABLE = "DIFFUSION_DESK_API_KEY"
GENERAL_PROMPT = "Write a haiku about diffusion."


def example_prompt(source: str) -> str:
    """The question the examples ask the model loaded from `source`: for the demo model one of the chat's demo
    examples (it declines anything outside its skills), else a general request."""
    return DEMO_EXAMPLES[0] if examples_for(source) == DEMO_EXAMPLES else GENERAL_PROMPT


def curl_example(url: str, model_id: str, has_key: bool, prompt: str = GENERAL_PROMPT) -> str:
    """A curl command that streams the answer to `prompt` from the server at `url` (`…/v1`)."""
    body = (f'{{"model": {json.dumps(model_id)}, "stream": true,\n'
            f'       "messages": [{{"role": "user", "content": {json.dumps(prompt)}}}]}}')
    body = body.replace("'", "'\\''")  # a model id is data: keep it inside the shell's single quotes
    lines = [f"curl -N {url}/chat/completions", "  -H 'Content-Type: application/json'"]
    if has_key:
        lines.append(f'  -H "Authorization: Bearer ${KEY_VARIABLE}"')
    lines.append(f"  -d '{body}'")
    return " \\\n".join(lines)


def python_example(url: str, model_id: str, has_key: bool, prompt: str = GENERAL_PROMPT) -> str:
    """An openai-python script that streams the answer to `prompt` from the server at `url`."""
    key = f'os.environ["{KEY_VARIABLE}"]' if has_key else '"not-needed"'
    return "\n".join([
        "import os" if has_key else "",
        "from openai import OpenAI",
        "",
        f"client = OpenAI(base_url={json.dumps(url)}, api_key={key})",
        "stream = client.chat.completions.create(",
        f"    model={json.dumps(model_id)},",
        f'    messages=[{{"role": "user", "content": {json.dumps(prompt)}}}],',
        "    stream=True,",
        ")",
        "for chunk in stream:",
        '    print(chunk.choices[0].delta.content or "", end="", flush=True)',
    ]).lstrip("\n")
