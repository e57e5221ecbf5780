"""A scripted teacher for unit tests of the stage loops: answers each request with a function of its
hints (the kind of request and what the rules teacher would read), and records every request."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from synth_assets.core.requests import Completion, GenerationRequest

Answer = Callable[[Mapping[str, str], int], str | tuple[str, str]]


class ScriptedTeacher:
    """`answers` maps a request kind (`hints["kind"]`) to a function of (hints, sample index) that
    returns the completion's text, or (text, finish_reason)."""

    def __init__(self, **answers: Answer) -> None:
        self.answers = answers
        self.calls: list[list[GenerationRequest]] = []

    def __call__(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        self.calls.append(list(requests))
        return [[self._completion(request, i) for i in range(request.sampling.n)] for request in requests]

    def _completion(self, request: GenerationRequest, index: int) -> Completion:
        kind = request.hints.get("kind", "solve")
        if kind not in self.answers:
            raise AssertionError(f"the script has no answer for a {kind!r} request")
        answer = self.answers[kind](request.hints, index)
        text, finish = answer if isinstance(answer, tuple) else (answer, "stop")
        return Completion(text, finish, len(request.prompt_text.split()), len(text.split()))

    def requests(self, kind: str) -> list[GenerationRequest]:
        return [r for batch in self.calls for r in batch if r.hints.get("kind") == kind]
