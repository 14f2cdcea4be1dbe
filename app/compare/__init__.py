"""Compare: one prompt × up to four variants (seed, system prompt, preset, edited prompt) denoised as one batch."""
