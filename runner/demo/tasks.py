"""Work for the demo deck and the sample decks: prime counting, a Monte Carlo estimate of pi, and a slow
simulation that keeps running long enough to try pausing and cancelling."""

from __future__ import annotations

import json
import math
import os
import random
import re
import time
import urllib.request

from runner import job_context


def count_primes(start: int, width: int) -> int:
    """Count the primes in [start, start + width) by trial division, reporting progress as it goes."""
    context = job_context()
    count = 0
    span = width
    for number in range(start, start + width):
        if number % 2_000 == 0:
            context.progress(number - start, span)
            context.checkpoint()
        if _is_prime(number):
            count += 1
    context.progress(span, span)
    return count


def _is_prime(number: int) -> bool:
    if number < 2:
        return False
    if number % 2 == 0:
        return number == 2
    return all(number % divisor for divisor in range(3, math.isqrt(number) + 1, 2))


def estimate_pi(samples: int, seed: int) -> dict[str, float]:
    """Throw `samples` random darts at the unit square; the share inside the quarter circle gives pi."""
    context = job_context()
    generator = random.Random(seed)
    inside = 0
    for thrown in range(1, samples + 1):
        x, y = generator.random(), generator.random()
        if x * x + y * y <= 1.0:
            inside += 1
        if thrown % 50_000 == 0:
            context.progress(thrown, samples)
            context.checkpoint()
    estimate = 4 * inside / samples
    return {"pi": estimate, "error": abs(estimate - math.pi), "samples": samples}


def simulate(steps: int, seconds_per_step: float, particles: int = 2_000, seed: int = 7) -> dict[str, float]:
    """A slow simulation: `particles` random walkers take `steps` steps, one step every `seconds_per_step`
    (the waiting between steps is what makes it long, not the work), reporting progress and stopping or
    pausing at each step's checkpoint. Returns how far the walkers spread."""
    context = job_context()
    generator = random.Random(seed)
    positions = [0.0] * particles
    for step in range(1, steps + 1):
        started = time.monotonic()
        positions = [position + generator.gauss(0.0, 1.0) for position in positions]
        context.progress(step, steps)
        context.checkpoint()
        time.sleep(max(0.0, seconds_per_step - (time.monotonic() - started)))
    spread = math.sqrt(sum(position * position for position in positions) / particles)
    return {"steps": steps, "particles": particles, "spread": round(spread, 3), "expected": round(math.sqrt(steps), 3)}


def list_pages(count: int) -> list[dict[str, str]]:
    """The pages the demo server offers (`/pages`), as the pipeline deck's items: `{"name", "path"}` each."""
    address = os.environ["JOBDECK_DEMO_URL"]
    with urllib.request.urlopen(f"{address}/pages?count={count}", timeout=30) as response:
        pages: list[dict[str, str]] = json.load(response)
    return pages


def count_words(path: str) -> str:
    """The words of a downloaded page's text (its tags left out), a little slowly so that the pipeline can be
    watched: one paragraph at a time, with progress."""
    context = job_context()
    with open(path, encoding="utf-8") as handle:
        paragraphs = handle.read().split("<p>")
    words = 0
    for done, paragraph in enumerate(paragraphs, start=1):
        words += len(re.sub(r"<[^>]*>", " ", paragraph).split())
        context.progress(done, len(paragraphs))
        context.checkpoint()
        time.sleep(0.1)
    return f"{words} words in {os.path.basename(path)}"
