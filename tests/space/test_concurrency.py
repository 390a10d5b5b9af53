"""50 concurrent gradio_client requests against the running app: every one answered, correctly; p50 / p95 shown.
A bounded queue: past its size, requests are refused with a message instead of piling up."""

import pytest

from benchmarks.bench_space_concurrency import concurrent_requests, percentile, summarize
from tests.space.conftest import SPACE_DIR


def test_percentile_is_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 0.5) == 50 and percentile(values, 0.95) == 95 and percentile(values, 1.0) == 100
    assert percentile([3.0], 0.95) == 3.0 and percentile([1, 2], 0.5) == 1


@pytest.mark.slow
def test_fifty_concurrent_requests_all_answered_correctly(server, python_api, capsys):
    images = sorted((SPACE_DIR / "examples").glob("*.jpg"))[:5]
    expected = {str(path): float(python_api(str(path)).score[0]) for path in images}
    answers = concurrent_requests(server, images, 50)
    assert len(answers) == 50
    assert [path for path, _, _ in answers] == [str(images[k % 5]) for k in range(50)]  # none lost, none mixed up
    for path, score, _ in answers:
        assert score == pytest.approx(expected[path], abs=1e-6)
    figures = summarize([seconds for _, _, seconds in answers])
    with capsys.disabled():
        print(f"\n50 concurrent /score requests: p50 {figures['p50_s']:.2f} s, p95 {figures['p95_s']:.2f} s, "
              f"max {figures['max_s']:.2f} s")
    assert figures["p50_s"] <= figures["p95_s"] <= figures["max_s"]


@pytest.mark.slow
def test_queue_is_bounded(space_model_dir, monkeypatch):
    """With LIQE_QUEUE_SIZE=2, of 12 simultaneous requests some are refused as 'queue is full'; the others are
    answered (the app stays responsive instead of holding an unbounded backlog)."""
    from gradio_client import Client, handle_file

    from tests.space.conftest import load_app_module

    monkeypatch.setenv("LIQE_QUEUE_SIZE", "2")
    module = load_app_module(space_model_dir, "liqe_space_app_small_queue")
    demo = module.build_demo()
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **module.launch_options())
    try:
        client = Client(demo.local_url, verbose=False, max_workers=12, httpx_kwargs={"timeout": 300})
        image = handle_file(str(SPACE_DIR / "examples" / "rocket.jpg"))
        jobs = [client.submit(image, api_name="/quality_map") for _ in range(12)]
        answered, refused = 0, []
        for job in jobs:
            try:
                job.result(timeout=300)
                answered += 1
            except Exception as error:  # gradio_client raises on a refused job
                refused.append(str(error))
        assert answered >= 1 and refused, (answered, refused)
        assert all("queue is full" in message.lower() for message in refused), refused
    finally:
        demo.close()
