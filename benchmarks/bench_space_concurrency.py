"""Concurrent load on the Space: N gradio_client requests at once against the running app; p50 / p95 latency.

    python benchmarks/bench_space_concurrency.py [--model DIR_OR_ID] [--requests 50] [--url URL]

Without --url the app (space/app.py) is launched in this process on 127.0.0.1 with --model (default: a tiny random
model written by `liqe init --geometry tiny` into a temporary folder). The requests go to `/score` with the
Space's example images in turn, all submitted at once; each answer is checked against a direct call of the
handler. Latency is from submission to answer, so it includes the wait in the app's queue (one model worker).
"""

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPACE_DIR = REPO / "space"


def percentile(values, fraction):
    """The nearest-rank percentile (fraction in (0, 1]) of `values`."""
    ordered = sorted(values)
    rank = max(1, int(-(-fraction * len(ordered) // 1)))  # ceil
    return ordered[rank - 1]


def concurrent_requests(url, image_paths, count, api_name="/score"):
    """Submit `count` requests at once (image_paths in turn); returns [(path, result, seconds)] in submission
    order, or raises if any request failed. `result` is the endpoint's first output (the score for /score)."""
    from gradio_client import Client, handle_file

    # httpx's default 5 s timeout is too short for 50 uploads at once to an app sharing 2 cores with its model.
    client = Client(url, verbose=False, max_workers=count, httpx_kwargs={"timeout": 300})
    done_at = {}
    lock = threading.Lock()
    jobs = []
    for index in range(count):
        path = str(image_paths[index % len(image_paths)])
        started = time.perf_counter()
        job = client.submit(handle_file(path), api_name=api_name)

        def finished(_, index=index):
            with lock:
                done_at[index] = time.perf_counter()

        job.add_done_callback(finished)
        jobs.append((path, job, started))
    answers = []
    for index, (path, job, started) in enumerate(jobs):
        result = job.result(timeout=600)
        with lock:
            ended = done_at.get(index, time.perf_counter())
        answers.append((path, result[0] if isinstance(result, (list, tuple)) else result, ended - started))
    return answers


def summarize(latencies):
    return {
        "requests": len(latencies),
        "p50_s": percentile(latencies, 0.50),
        "p95_s": percentile(latencies, 0.95),
        "max_s": max(latencies),
        "mean_s": statistics.fmean(latencies),
    }


def load_app(model):
    os.environ["LIQE_MODEL"] = str(model)
    spec = importlib.util.spec_from_file_location("liqe_space_app_bench", SPACE_DIR / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder or Hub id (default: a tiny random model)")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--url", help="an already running app (then --model is not used)")
    args = parser.parse_args(argv)
    images = sorted((SPACE_DIR / "examples").glob("*.jpg"))[:5]

    demo = app = None
    if args.url is None:
        model = args.model
        if model is None:
            sys.path.insert(0, str(REPO))
            from modeling_liqe.geometries import init_random_model

            model = os.path.join(tempfile.mkdtemp(prefix="liqe-bench-"), "tiny")
            init_random_model("tiny", output_dir=model)
        app = load_app(model)
        demo = app.build_demo()
        demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **app.launch_options())
        url = demo.local_url
    else:
        url = args.url
    try:
        started = time.perf_counter()
        answers = concurrent_requests(url, images, args.requests)
        wall = time.perf_counter() - started
    finally:
        if demo is not None:
            demo.close()
    if app is not None:
        expected = {str(path): app.score_image(str(path))[0] for path in images}
        wrong = [path for path, score, _ in answers if abs(score - expected[path]) > 1e-6]
        print(f"answers checked against direct calls: {len(answers) - len(wrong)} of {len(answers)} correct")
    figures = summarize([seconds for _, _, seconds in answers])
    print(f"{figures['requests']} concurrent /score requests in {wall:.2f} s ({figures['requests'] / wall:.1f} req/s): "
          f"p50 {figures['p50_s']:.2f} s, p95 {figures['p95_s']:.2f} s, max {figures['max_s']:.2f} s "
          f"(torch threads {__import__('torch').get_num_threads()}, {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
