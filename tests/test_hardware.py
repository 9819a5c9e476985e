"""csir.hardware: whether bf16 autocast has native CPU kernels here, and the reason given when it has not."""

import csir.hardware as hw


def test_native_bf16_is_a_plain_answer_and_gpus_are_never_flagged(monkeypatch):
    assert isinstance(hw.cpu_bf16_native(), bool)
    monkeypatch.setattr(hw, "cpu_bf16_native", lambda: False)
    assert hw.slow_bf16_reason("cuda") is None
    why = hw.slow_bf16_reason("cpu")
    assert why.startswith(f"this CPU ({hw.cpu_capability()}) has no native bfloat16 kernels")
    monkeypatch.setattr(hw, "cpu_bf16_native", lambda: True)
    assert hw.slow_bf16_reason("cpu") is None


def test_the_answer_matches_torchs_own_probe():
    import torch

    assert hw.cpu_bf16_native() == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def test_the_kernel_level_names_amx_where_torch_sees_it():
    import torch

    level = hw.cpu_capability()
    assert level.startswith(torch.backends.cpu.get_cpu_capability())
    assert level.endswith(", AMX") == bool(torch.cpu._is_amx_tile_supported())
