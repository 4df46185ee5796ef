"""Makes sure PyTorch's OpenBLAS runs the kernels this CPU deserves before torch is imported.

OpenBLAS picks its kernels from the CPU model number. A model its build does not know (Debian's 0.3.21 on an Intel
Xeon of model 207, say) falls back to the generic Prescott (SSE3) kernels: 4-6x slower than its AVX-512 ones, which
would make every comparison with PyTorch a comparison with a crippled baseline. When the library reports that
fallback, OPENBLAS_CORETYPE is not set and the CPU has AVX2 or AVX-512, the script restarts itself with
OPENBLAS_CORETYPE naming the best kernels for the CPU's instruction sets, and says so on stderr. A coretype the
caller set is always kept. The kernels in use go into every JSON line as "blas_core".
"""
import ctypes, os, sys

GENERIC = {"Prescott", "Core2", "Nehalem", "Penryn", "Dunnington", "Atom"}


def _flags() -> set:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def best_coretype(flags: set):
    """The OpenBLAS coretype with the widest kernels this CPU runs, or None."""
    if {"avx512f", "avx512vl", "avx512bw", "avx512dq"} <= flags:
        return "Cooperlake" if "avx512_bf16" in flags else "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


def corename() -> str:
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "unknown"


def ensure_best_core(script: str) -> str:
    """Call before importing torch. Returns the OpenBLAS kernels in use (restarting the process first if needed)."""
    core = corename()
    best = best_coretype(_flags())
    if core in GENERIC and best and "OPENBLAS_CORETYPE" not in os.environ:
        print(f"{script}: OpenBLAS does not recognise this CPU and would run its {core} kernels; "
              f"restarting with OPENBLAS_CORETYPE={best}", file=sys.stderr, flush=True)
        os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, OPENBLAS_CORETYPE=best))
    return core
