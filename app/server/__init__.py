"""The app's Server switch: the loaded model served over an OpenAI-compatible API from the engine worker thread."""
