"""The sample decks' CPU work: the demo's own functions, which ship inside jobdeck (runner/demo/tasks.py).

A deck finds `tasks:count_primes` here, beside it; your own decks put their functions in a module like this one.
"""

from runner.demo.tasks import count_primes, count_words, estimate_pi, list_pages

__all__ = ["count_primes", "count_words", "estimate_pi", "list_pages"]
