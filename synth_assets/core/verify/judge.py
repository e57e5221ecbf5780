"""The rubric judge: five aspects scored 1 to 5 as a JSON object, validated, never guessed.

The judge template (`templates/judge_rubric.txt`) states the rubric of every aspect; the request
carries `JUDGE_SCHEMA`, which backends that can constrain decoding enforce (vLLM structured outputs,
an OpenAI-compatible server's `response_format`). Whatever comes back is parsed and validated here
(`parse_judgment`): a backend that cannot constrain (transformers, the rules teacher) or a server
that ignores the schema may answer anything. An answer that does not validate gets one retry
(`retry_request`: the failed answer and what was wrong with it, then the question again); if that
fails too the candidate is rejected as `judge_unparseable` with the raw text, never scored 0.

The overall score (`Judgment.overall`) keeps the 1-10 scale every consumer of `judge_score` reads:
the mean of the aspects, mapped linearly from [1, 5] onto [1, 10].
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from synth_assets.core.requests import GenerationRequest, Message, SamplingParams
from synth_assets.core.templates import load_template

__all__ = [
    "ASPECTS",
    "JUDGE_SCHEMA",
    "JUDGE_TEMPLATE",
    "SCALE",
    "JudgeError",
    "Judgment",
    "judge_request",
    "parse_judgment",
    "retry_request",
    "self_preference_warning",
]

ASPECTS = ("correctness", "relevance", "coherence", "completeness", "difficulty")
SCALE = (1, 5)  # every aspect's lowest and highest score
OVERALL_SCALE = (1.0, 10.0)  # the scale of `judge_score`
JUDGE_TEMPLATE = "judge_rubric"

# The reply's JSON schema: a short rationale first (the judge reasons before it scores), then each
# aspect as an integer in SCALE. Every property is required and no other is allowed, which is what
# OpenAI's strict structured outputs need.
JUDGE_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "rationale": {"type": "string"},
        **{aspect: {"type": "integer", "minimum": SCALE[0], "maximum": SCALE[1]} for aspect in ASPECTS},
    },
    "required": ["rationale", *ASPECTS],
    "additionalProperties": False,
}
_SCHEMA_TEXT = json.dumps(JUDGE_SCHEMA, sort_keys=True)
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


class JudgeError(ValueError):
    """The judge's reply is not a valid judgment; the message says what is wrong with it."""


@dataclass(frozen=True)
class Judgment:
    aspects: Mapping[str, int]  # every aspect of ASPECTS, in that order, 1-5
    rationale: str = ""

    @property
    def overall(self) -> float:
        """The mean aspect score on the 1-10 scale of `judge_score` (1 -> 1, 5 -> 10)."""
        mean = sum(self.aspects[a] for a in ASPECTS) / len(ASPECTS)
        low, high = OVERALL_SCALE
        return round(low + (mean - SCALE[0]) * (high - low) / (SCALE[1] - SCALE[0]), 4)

    def aspects_json(self) -> str:
        """The `judge_aspects` column: a JSON object aspect -> score, in ASPECTS order."""
        return json.dumps({a: self.aspects[a] for a in ASPECTS})


def parse_judgment(text: str) -> Judgment:
    """The judgment in `text`, a JSON object (optionally in a ```json fence) with every aspect an
    integer in SCALE; keys other than the aspects and `rationale` are ignored. Raises `JudgeError`
    naming the first problem: not JSON, not an object, a missing aspect, a non-integer or
    out-of-range score. A whole-number float (4.0) counts as the integer it is."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise JudgeError(f"not JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(value, dict):
        raise JudgeError(f"expected a JSON object, got {type(value).__name__}")
    aspects: dict[str, int] = {}
    for aspect in ASPECTS:
        if aspect not in value:
            raise JudgeError(f"missing aspect {aspect!r}")
        score = value[aspect]
        if isinstance(score, bool) or not isinstance(score, int | float) or score != int(score):
            raise JudgeError(f"{aspect} must be a whole number, got {score!r}")
        if not SCALE[0] <= score <= SCALE[1]:
            raise JudgeError(f"{aspect} must be in {SCALE[0]}-{SCALE[1]}, got {score!r}")
        aspects[aspect] = int(score)
    rationale = value.get("rationale", "")
    return Judgment(aspects, rationale if isinstance(rationale, str) else json.dumps(rationale))


def judge_request(instruction: str, response: str, max_tokens: int = 512) -> GenerationRequest:
    """The judge's request for one (instruction, response): the rubric template, greedy, with
    `JUDGE_SCHEMA` for the backends that constrain decoding. The offline `rules` teacher reads the
    hints (`kind` judge_rubric)."""
    prompt = load_template(JUDGE_TEMPLATE).render(instruction=instruction, response=response)
    return GenerationRequest(
        (Message("user", prompt),),
        SamplingParams(temperature=0.0, max_tokens=max_tokens, json_schema=_SCHEMA_TEXT),
        {"kind": "judge_rubric", "instruction": instruction, "response": response},
    )


def retry_request(first: GenerationRequest, reply: str, error: str) -> GenerationRequest:
    """The one retry after a reply that did not validate: the conversation so far, the failed reply,
    and what was wrong with it. A new prompt, so a greedy backend answers anew and the cache keeps
    both answers. The rules teacher sees `attempt` 2 in the hints."""
    correction = (f"That reply is not a valid judgment: {error}. Reply again with only the JSON object: "
                  f"{', '.join(ASPECTS)} as whole numbers from {SCALE[0]} to {SCALE[1]}, and a short rationale.")
    return GenerationRequest(
        (*first.messages, Message("assistant", reply), Message("user", correction)),
        first.sampling,
        {**first.hints, "attempt": "2"},
    )


def self_preference_warning(judge_model: str, authors: Iterable[str]) -> str:
    """A warning when the judge is one of the models that wrote what it judges (the generator of
    the instructions or the answerer of the responses): an LLM judge rates its own output higher
    (self-preference bias). Empty when the judge is a different model."""
    if judge_model not in set(authors):
        return ""
    return (f"self-preference: the judge {judge_model} also wrote what it judged, and a model judging its own "
            "output favours it; configure a different judge (JUDGE_BACKEND / JUDGE_MODEL, docs/teachers.md)")
