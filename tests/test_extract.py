"""Code extraction from real-looking chat answers and completion continuations."""

import pytest

from codeloop.extract import (
    CODET_STOPS,
    DEFAULT_STOPS,
    extract_code,
    fenced_blocks,
    truncate_completion,
)

HE_PROMPT = '''from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    """ Check if in given list of numbers, are any two numbers closer to each other than
    given threshold.
    >>> has_close_elements([1.0, 2.0, 3.0], 0.5)
    False
    """
'''

CHAT_ANSWER = """Sure! Here's an implementation that compares every pair of numbers:

```python
from typing import List


def has_close_elements(numbers: List[float], threshold: float) -> bool:
    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:
                return True
    return False
```

This runs in O(n^2) time. For large inputs you could sort the list first.
"""


def chat(text, entry_point="has_close_elements", prompt=HE_PROMPT):
    return extract_code(text, entry_point=entry_point, prompt=prompt, mode="chat")


def test_fenced_answer_with_prose_around_it():
    got = chat(CHAT_ANSWER)
    assert got.how == "fence"
    assert got.code.startswith("from typing import List")
    assert "This runs in" not in got.code and "Sure!" not in got.code
    assert got.raw == CHAT_ANSWER
    compile(got.code, "<x>", "exec")


def test_block_defining_the_entry_point_beats_a_longer_usage_example():
    usage = "\n".join(f"print(has_close_elements([{i}.0, {i}.5], 0.1))" for i in range(12))
    text = (
        "```python\ndef has_close_elements(numbers, threshold):\n"
        "    return any(abs(a - b) < threshold for i, a in enumerate(numbers)"
        " for b in numbers[i + 1:])\n```\n\nUsage:\n\n```python\n" + usage + "\n```\n"
    )
    got = chat(text)
    assert "def has_close_elements" in got.code
    assert "print(" not in got.code


def test_repair_answer_quoting_the_old_code_gives_the_fix():
    text = (
        "Your code had a bug:\n\n```python\ndef has_close_elements(numbers, threshold):\n"
        "    return False\n```\n\nHere is the corrected version:\n\n```python\n"
        "def has_close_elements(numbers, threshold):\n    return len(numbers) > 1\n```\n"
    )
    assert "len(numbers) > 1" in chat(text).code


def test_without_entry_point_the_longest_block():
    text = (
        "```python\nx = 1\n```\nthen\n```python\nimport sys\nprint(sum(map(int, sys.stdin)))\n```"
    )
    got = extract_code(text, entry_point=None, prompt=None, mode="chat")
    assert got.code == "import sys\nprint(sum(map(int, sys.stdin)))\n"


def test_other_languages_are_ignored_when_python_is_there():
    text = (
        "Run:\n```bash\npip install numpy && python main.py --long-option-list\n```\n" + CHAT_ANSWER
    )
    assert "pip install" not in chat(text).code


def test_unterminated_fence_runs_to_the_end():
    text = "```python\ndef has_close_elements(numbers, threshold):\n    return True"
    got = chat(text)
    assert got.how.startswith("fence_unterminated")
    assert "return True" in got.code


def test_tilde_fence_and_python3_tag():
    text = "~~~python3\ndef has_close_elements(numbers, threshold):\n    return True\n~~~\n"
    assert chat(text).how.startswith("fence")
    assert "return True" in chat(text).code


def test_plain_code_without_fence():
    text = "def has_close_elements(numbers, threshold):\n    return False\n"
    got = chat(text)
    assert got.how.startswith("plain")
    assert "return False" in got.code


def test_prose_around_unfenced_code():
    text = (
        "Here is the function you asked for:\n"
        "def has_close_elements(numbers, threshold):\n"
        "    return sorted(numbers) != numbers\n"
        "It returns True when the list is unsorted, which is of course wrong.\n"
    )
    got = chat(text)
    assert got.how.startswith("parseable_region")
    assert "Here is" not in got.code and "of course" not in got.code
    assert "return sorted(numbers) != numbers" in got.code


@pytest.mark.parametrize(
    "body",
    [
        "    return any(abs(a - b) < threshold for a in numbers for b in numbers if a is not b)\n",
        "return any(abs(a - b) < threshold for a in numbers for b in numbers if a is not b)",
        "```python\n    return any(abs(a - b) < threshold for a in numbers for b in numbers)\n```",
    ],
)
def test_body_only_gets_the_prompt_header(body):
    got = chat(body)
    assert got.code.startswith(HE_PROMPT.rstrip("\n"))
    assert "prompt_header" in got.how
    namespace = {}
    exec(got.code, namespace)
    assert namespace["has_close_elements"]([1.0, 1.05], 0.1) is True


def test_missing_prompt_imports_are_added():
    text = (
        "```python\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        "    return False\n```"
    )
    got = chat(text)
    assert got.how == "fence+prompt_context"
    assert got.code.startswith("from typing import List")
    exec(got.code, {})  # would raise NameError on List without the import


def test_prompt_helpers_the_answer_relies_on_are_added():
    prompt = (
        "def encode_cyclic(s: str):\n    return s[1:] + s[:1]\n\n\n"
        'def decode_cyclic(s: str):\n    """Inverse of encode_cyclic."""\n'
    )
    text = "```python\ndef decode_cyclic(s: str):\n    return encode_cyclic(encode_cyclic(s))\n```"
    got = chat(text, entry_point="decode_cyclic", prompt=prompt)
    namespace = {}
    exec(got.code, namespace)
    assert namespace["decode_cyclic"]("ab") == "ab"
    assert got.code.count("def decode_cyclic") == 1


def test_reasoning_is_skipped():
    text = (
        "<think>Maybe:\n```python\ndef has_close_elements(numbers, threshold):\n"
        "    return None\n```\nNo, better compare pairs.</think>\n" + CHAT_ANSWER
    )
    assert "return None" not in chat(text).code


def test_prose_only_answer_stays_unparsed():
    got = chat("Sorry, I cannot help with that.")
    assert got.how == "unparsed"
    assert "def has_close_elements" not in got.code


def test_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        extract_code("x", entry_point=None, prompt=None, mode="json")  # type: ignore[arg-type]


# ------------------------------------------------------------------ completion mode

CODEGEN_SAMPLE = (
    "    for i, a in enumerate(numbers):\n"
    "        for b in numbers[i + 1:]:\n"
    "            if abs(a - b) < threshold:\n"
    "                return True\n"
    "    return False\n"
    "\n"
    "\n"
    "def main():\n"
    "    print(has_close_elements([1.0, 2.0], 0.5))\n"
    "\n"
    "if __name__ == '__main__':\n"
    "    main()\n"
)


def test_completion_is_appended_to_the_prompt_and_truncated():
    got = extract_code(
        CODEGEN_SAMPLE, entry_point="has_close_elements", prompt=HE_PROMPT, mode="completion"
    )
    assert got.how == "completion"
    assert got.code == HE_PROMPT + CODEGEN_SAMPLE[: CODEGEN_SAMPLE.index("\ndef main")]
    assert got.raw == CODEGEN_SAMPLE
    namespace = {}
    exec(got.code, namespace)
    assert namespace["has_close_elements"]([1.0, 1.1], 0.5) is True


@pytest.mark.parametrize("stop", ["\nclass", "\ndef", "\n#", "\nif", "\nprint", "\n```"])
def test_each_stop_sequence_truncates(stop):
    assert truncate_completion("    return 1" + stop + " rest") == "    return 1"


def test_indented_keywords_do_not_stop():
    body = "    if x:\n        return 1\n    # comment\n    print(x)\n    return 2\n"
    assert truncate_completion(body) == body


def test_earliest_stop_wins_and_codet_has_no_fence_stop():
    text = "    return 1\n```\nprint(2)\n"
    assert truncate_completion(text) == "    return 1"
    assert truncate_completion(text, CODET_STOPS) == "    return 1\n```"
    assert set(CODET_STOPS) < set(DEFAULT_STOPS)


def test_an_echoed_prompt_is_not_doubled():
    got = extract_code(
        HE_PROMPT + "    return False\n",
        entry_point="has_close_elements",
        prompt=HE_PROMPT,
        mode="completion",
    )
    assert got.code == HE_PROMPT + "    return False\n"


def test_fenced_blocks_report_termination():
    blocks = fenced_blocks("a\n```py\nx = 1\n```\n```\ny = 2\n")
    assert blocks == [("py", "x = 1\n", True), ("", "y = 2\n", False)]


def test_parses_says_whether_python_source_parses_without_warnings():
    import warnings

    from codeloop.extract import parses

    assert parses("def f(x):\n    return x\n")
    assert parses("return 1\n")  # syntax only: the compiler's checks are not asked for
    assert not parses("def f(:\n")
    assert not parses("x = 1\x00\n")  # null bytes: ValueError or SyntaxError, by version
    assert not parses("(" * 10_000 + ")" * 10_000)  # too deep to parse
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an invalid escape would warn, and fail here
        assert parses("x = '\\d'\n")


def test_one_parse_check_serves_the_loaders_and_the_prompts():
    from codeloop.extract import parses
    from codeloop.strategies import prompts
    from codeloop.tasks import mbpp

    assert mbpp.parses is parses and prompts.parses is parses
    assert not hasattr(mbpp, "_parses") and not hasattr(prompts, "_parses")
    # MBPP's reference is prompt + solution when that parses
    assert mbpp.reference_program("def f():\n", "    return 1\n") == "def f():\n    return 1\n"
