"""The README's promises hold: every ``realtime`` command line it shows names a subcommand
that exists and only flags that subcommand accepts, and every relative link points to a file
in the repository. Nothing is run: the commands are checked against the real parser."""

from __future__ import annotations

import argparse
import re
import shlex
import unicodedata
from pathlib import Path

import pytest

from realtime.cli.main import build_parser

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
SHELL_FENCES = {"", "bash", "sh", "shell", "console", "zsh"}
# [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_SRC = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
SHELL_OPERATORS = {"&&", "||", ";", "|", "&", "(", ")"}


def code_blocks(text: str) -> list[str]:
    """The shell code blocks (```bash, ```sh, ... or a bare fence) of a Markdown text."""
    return [body for info, body in FENCE.findall(text) if info.strip() in SHELL_FENCES]


def shell_commands(block: str) -> list[list[str]]:
    """The simple commands of a shell snippet: continuation lines joined, comments dropped,
    split at ``&&``, ``;``, ``|``, ..."""
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        try:
            tokens = list(lexer)
        except ValueError:  # an unbalanced quote: not shell we can read, split on spaces
            tokens = line.split("#", 1)[0].split()
        for token in tokens:
            if token in SHELL_OPERATORS:
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(token)
        if current:
            commands.append(current)
    return commands


def realtime_commands(text: str) -> list[list[str]]:
    """Every ``realtime ...`` command in the text's code blocks, as its argument list."""
    return [
        command[1:]
        for block in code_blocks(text)
        for command in shell_commands(block)
        if command[0] == "realtime"
    ]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def _is_flag(token: str) -> bool:
    if not token.startswith("-") or token == "-":
        return False
    try:
        float(token)  # a negative number is a value, not a flag
    except ValueError:
        return True
    return False


def problems(argv: list[str], parser: argparse.ArgumentParser) -> list[str]:
    """What is wrong with ``realtime ARGV`` as far as the parser can tell without running
    it: an unknown subcommand, or a flag the (sub)command does not accept."""
    found = []
    prog = "realtime"
    tokens = list(argv)
    while True:
        options = _options(parser)
        subcommands = _subparsers(parser)
        position = next((i for i, t in enumerate(tokens) if not _is_flag(t)), len(tokens))
        here = tokens[:position] if subcommands else tokens
        for token in here:
            if _is_flag(token) and token.split("=", 1)[0] not in options:
                found.append(f"'{prog}' has no option {token.split('=', 1)[0]}")
        if not subcommands:
            return found
        if position == len(tokens):
            if "--help" not in here and "-h" not in here and "--version" not in here:
                found.append(f"'{prog}' needs a subcommand")
            return found
        name = tokens[position]
        if name not in subcommands:
            found.append(f"'{prog}' has no subcommand {name!r} (it has {sorted(subcommands)})")
            return found
        prog = f"{prog} {name}"
        parser = subcommands[name]
        tokens = tokens[position + 1 :]


@pytest.fixture(scope="module")
def parser() -> argparse.ArgumentParser:
    return build_parser()


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


def test_the_readme_shows_the_main_commands(readme: str) -> None:
    shown = {argv[0] for argv in realtime_commands(readme) if argv}
    assert {"demo", "video", "webcam", "image", "batch"} <= shown, shown


def test_every_realtime_command_in_the_readme_parses(
    readme: str, parser: argparse.ArgumentParser
) -> None:
    found = {
        "realtime " + " ".join(argv): problems(argv, parser) for argv in realtime_commands(readme)
    }
    assert found, "no realtime commands found in the README's code blocks"
    wrong = {command: issues for command, issues in found.items() if issues}
    assert not wrong, wrong


def test_the_check_catches_what_does_not_exist(parser: argparse.ArgumentParser) -> None:
    """The check above would fail for a README that shows a flag or command that is not
    there, including a flag of another subcommand and one of a nested subcommand."""
    text = (
        "```bash\n"
        "realtime video in.mp4 out.mp4 --style candy \\\n    --no-such-flag 3  # a comment\n"
        "realtime image a.jpg b.jpg --vcam\n"
        "realtime eval style out.jpg painting.jpg photo.jpg --reference x.mp4\n"
        "pip install . && realtime no-such-command\n"
        "realtime --style candy video a.mp4 b.mp4\n"
        "```\n"
    )
    commands = realtime_commands(text)
    assert len(commands) == 5
    assert all(problems(argv, parser) for argv in commands), [
        (argv, problems(argv, parser)) for argv in commands
    ]
    fine = realtime_commands(
        "```sh\nrealtime -q video in.mp4 out.mp4 --style=candy --strength 0.5 --size 640\n"
        "realtime eval temporal in.mp4 out.mp4 --reference off.mp4 --json\n```\n"
    )
    assert [problems(argv, parser) for argv in fine] == [[], []]


def _links(text: str) -> list[str]:
    return LINK.findall(text) + HTML_SRC.findall(text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()  # links: their text
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    text = FENCE.sub("", text)
    return {_slug(m) for m in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE)}


def test_every_relative_link_in_the_readme_points_to_a_file(readme: str) -> None:
    relative = [
        link
        for link in _links(readme)
        if not re.match(r"^[a-z][a-z0-9+.-]*:", link, re.IGNORECASE) and link.strip()
    ]
    assert any(link.startswith("docs/") for link in relative), relative
    missing = []
    for link in relative:
        target, _, anchor = link.partition("#")
        path = (README.parent / target).resolve() if target else README
        if not path.exists():
            missing.append(f"{link}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            missing.append(f"{link}: no heading with that anchor in {target or 'README.md'}")
    assert not missing, missing


def test_the_readme_opens_with_a_picture(readme: str) -> None:
    first = next(line for line in readme.splitlines() if line.strip() and not line.startswith("# "))
    assert first.startswith("!["), first
