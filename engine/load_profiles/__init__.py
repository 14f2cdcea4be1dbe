"""Load profiles: bf16, fp8, int8, offload, cpu — checks before loading, quantization at load time, the device
map of the offload profile, measured memory and quality per profile."""
