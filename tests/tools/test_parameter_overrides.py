"""`--parameter-overrides` read as `sam deploy` reads it: quoted values with spaces, escaped quotes, JSON values."""

from __future__ import annotations

import json

import pytest

from heymarket_bridge_tools.parameter_overrides import ParameterOverridesError, parse_overrides

MAPPINGS = {"typeform": {"custom": {"Preferred clinic": "clinic"}}}

# Lines `sam deploy --parameter-overrides` takes, with the values it reads from them.
SAM_LINES = {
    "MaxReceiveCount=2 LogLevel=DEBUG": {"MaxReceiveCount": "2", "LogLevel": "DEBUG"},
    "Title='Preferred clinic' BatchSize=10": {"Title": "Preferred clinic", "BatchSize": "10"},
    'Title="Preferred clinic"': {"Title": "Preferred clinic"},
    'Quote="she said \\"hi\\"" X=1': {"Quote": 'she said "hi"', "X": "1"},
    "Quote='it\\'s' X=1": {"Quote": "it's", "X": "1"},
    "Spaced=Preferred\\ clinic": {"Spaced": "Preferred clinic"},
    f"SourceMappings='{json.dumps(MAPPINGS)}' DefaultCountry=GB": {
        "SourceMappings": json.dumps(MAPPINGS),
        "DefaultCountry": "GB",
    },
    "Equals=a=b": {"Equals": "a=b"},
    "ParameterKey=A,ParameterValue=1 ParameterKey=B,ParameterValue='2 3'": {"A": "1", "B": "2 3"},
    "   A=1    B=2   ": {"A": "1", "B": "2"},
}


@pytest.mark.parametrize("line", sorted(SAM_LINES))
def test_a_line_sam_takes_gives_the_values_sam_reads(line: str) -> None:
    assert parse_overrides([line]) == SAM_LINES[line]


@pytest.mark.parametrize("line", sorted(SAM_LINES))
def test_the_values_are_those_aws_sam_cli_itself_reads(line: str) -> None:
    # Given aws-sam-cli's own option type (installed with the dev extra), When both read the line, Then they agree.
    types = pytest.importorskip("samcli.cli.types", reason="aws-sam-cli comes with the dev extra")
    assert parse_overrides([line]) == types.CfnParameterOverridesType().convert(line, None, None)


def test_a_json_mapping_with_a_title_holding_a_space_arrives_whole() -> None:
    # Given the README's quoting for SourceMappings: the JSON in single quotes
    line = f"SourceMappings='{json.dumps(MAPPINGS)}'"
    # When read, Then the JSON parses back to the same mapping, its title with its space
    assert json.loads(parse_overrides([line])["SourceMappings"]) == MAPPINGS


def test_double_quoted_json_with_escaped_quotes_arrives_whole() -> None:
    line = 'SourceMappings="{\\"typeform\\": {\\"custom\\": {\\"Preferred clinic\\": \\"clinic\\"}}}"'
    assert json.loads(parse_overrides([line])["SourceMappings"]) == MAPPINGS


def test_each_option_given_adds_its_pairs_and_a_later_one_wins() -> None:
    assert parse_overrides(["A=1 B=2", "B=3"]) == {"A": "1", "B": "3"}


def test_an_empty_option_gives_nothing() -> None:
    assert parse_overrides(["", "  "]) == {}


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("Title=Preferred clinic", "'clinic'"),  # sam would cut the value at the space without a word
        ("A=1 garbage B=2", "'garbage'"),
        ("no pairs at all", "no pairs at all"),
        ("A=1 'unclosed", "'unclosed"),
    ],
)
def test_text_that_is_no_pair_is_refused_by_name(line: str, named: str) -> None:
    with pytest.raises(ParameterOverridesError, match=named):
        parse_overrides([line])


def test_the_quoting_the_docs_show_gives_the_mapping_whole_to_local_sam_and_samconfig() -> None:
    # Given the lines docs/try-real-senders.md shows for `local`, `sam deploy` and samconfig.toml (a text block: the
    # commands need a tunnel and AWS), When each is read as the shell, then sam / TOML, would read it
    import shlex
    import tomllib

    from tests.support import ROOT

    page = (ROOT / "docs" / "try-real-senders.md").read_text()
    expected = {"typeform": {"custom": {"Preferred clinic": "clinic"}}}
    commands = [line for line in page.splitlines() if line.startswith('    "SourceMappings=')]
    assert len(commands) == 2
    for line in commands:
        (argument,) = shlex.split(line.strip())
        assert json.loads(parse_overrides([argument])["SourceMappings"]) == expected
    toml_block = page.split("```toml\n", 1)[1].split("```", 1)[0]
    pairs = tomllib.loads(toml_block)["default"]["deploy"]["parameters"]["parameter_overrides"]
    assert json.loads(parse_overrides(pairs)["SourceMappings"]) == expected
