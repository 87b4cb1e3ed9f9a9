"""The CPU's int8 features and the int8-vs-float verdict of a host profile (logic; no timing)."""

from converters.profiling import cpu

EPYC = "processor\t: 0\nmodel name\t: AMD EPYC 7B12\nflags\t\t: fpu sse sse2 avx avx2 fma\n"
XEON = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\nflags\t\t: avx2 avx512f avx512_vnni amx_int8\n"
PIXEL = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 atomics asimddp i8mm\n"
PI4 = "processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU part\t: 0xd08\n"


def test_the_int8_dot_product_is_read_from_cpuinfo():
    assert cpu.describe(EPYC, "x86_64") == {"machine": "x86_64", "model": "AMD EPYC 7B12", "int8_features": [],
                                            "int8_dot_product": False}
    xeon = cpu.describe(XEON, "x86_64")
    assert xeon["int8_dot_product"] and xeon["int8_features"] == ["AVX-512 VNNI", "AMX-INT8"]
    pixel = cpu.describe(PIXEL, "aarch64")
    assert pixel["int8_dot_product"] and pixel["int8_features"] == ["Arm dot product (SDOT)",
                                                                    "Arm int8 matrix multiply (I8MM)"]
    assert cpu.describe(PI4, "aarch64")["int8_dot_product"] is False
    assert cpu.describe("processor\t: 0\n", "riscv64")["int8_dot_product"] is None  # no feature list: unknown
    here = cpu.describe()
    assert here["machine"] and here["int8_dot_product"] in (True, False, None)


def test_int8_slower_than_float_gets_a_note_naming_the_reason():
    epyc = cpu.describe(EPYC, "x86_64")
    (note,) = cpu.int8_notes(17000.0, epyc, {"float32": 7600.0, "float16": 7700.0})
    assert note.startswith("int8 is the slower choice on this CPU: 17.00 ms against float32 7.60 ms (2.24x)")
    assert "AVX-512 VNNI" in note and "phones" in note
    # Slower, on a CPU that has the instructions: the comparison still stands, without a reason it cannot give.
    (note,) = cpu.int8_notes(9000.0, cpu.describe(XEON, "x86_64"), {"float32": 7600.0})
    assert "1.18x" in note and "no int8 dot-product" not in note
    # Faster than every float flavour: nothing to say.
    assert cpu.int8_notes(5000.0, cpu.describe(XEON, "x86_64"), {"float32": 7600.0}) == []
    # Nothing to compare with: only the CPU's lack is said, in its own architecture's terms.
    (note,) = cpu.int8_notes(5000.0, epyc)
    assert note.startswith("this CPU has no int8 dot-product instructions (AVX-512 VNNI")
    (note,) = cpu.int8_notes(5000.0, cpu.describe(PI4, "aarch64"))
    assert "Armv8.2 dot product" in note
    assert cpu.int8_notes(5000.0, cpu.describe("", "riscv64")) == []
    # The export CLI picks these notes out of a profile by how they begin.
    notes = (cpu.int8_notes(17000.0, epyc, {"float32": 7600.0}) + cpu.int8_notes(5000.0, epyc)
             + cpu.int8_notes(9000.0, cpu.describe(XEON, "x86_64"), {"float32": 7600.0}))
    assert len(notes) == 3 and all(n.startswith(cpu.NOTE_PREFIXES) for n in notes)
