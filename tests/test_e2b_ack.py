"""Acknowledgement reading: the FDA positive and negative ACK examples, text and JSON output, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reporter.cli import main
from reporter.e2b.ack import read_ack
from reporter.errors import InputError


@pytest.fixture
def acks(shared_dir: Path) -> Path:
    return shared_dir / "e2b" / "examples" / "fda-faers-2022"


def test_positive_ack(acks: Path) -> None:
    ack = read_ack(acks / "R3ack-positive.ack")
    assert ack.code == "AA" and ack.accepted
    assert ack.batch_number == "FAERS2022Scenario1-4069-a2dd-08002b30309d"
    assert (ack.ack_sender, ack.ack_receiver, ack.ack_batch_number) == ("ZZFDA", "4567AB89012", "33439257")
    assert ack.local_message_number == "427032"
    assert ack.batch_transmitted == "20141214151617-0500"
    [msg] = ack.messages
    assert msg.code == "CA" and msg.accepted
    assert msg.local_report_number == "19426648"
    assert msg.message_created == "20141214151617-0500"
    assert (msg.sender, msg.receiver) == ("CDER", "4567AB89012")


def test_negative_ack(acks: Path) -> None:
    ack = read_ack(acks / "R3ack-negative.ack")
    assert ack.code == "AE" and not ack.accepted
    assert ack.details == ["some ICSR message(s) need further action"]
    [msg] = ack.messages
    assert msg.code == "CR" and not msg.accepted
    assert msg.message_id == "US-APHARMA-7644554"
    assert len(msg.details) == 4
    assert msg.details[2] == "Patient Ethnicity Code (FDA.D.12) must be provided"


def test_cli_text_and_exit_codes(acks: Path) -> None:
    runner = CliRunner()
    neg = runner.invoke(main, ["ack", str(acks / "R3ack-negative.ack")])
    assert neg.exit_code == 1
    assert "CR (rejected)" in neg.output and "FDA.C.1.12 is Mandatory" in neg.output
    pos = runner.invoke(main, ["ack", str(acks / "R3ack-positive.ack")])
    assert pos.exit_code == 0 and "AA (accepted)" in pos.output


def test_cli_json(acks: Path) -> None:
    result = CliRunner().invoke(main, ["ack", "--format", "json", str(acks / "R3ack-negative.ack")])
    data = json.loads(result.output)
    assert data["status"] == "accepted with errors"
    assert data["messages"][0]["status"] == "rejected"


def test_an_icsr_batch_is_not_an_ack(shared_dir: Path) -> None:
    with pytest.raises(InputError, match="expected MCCI_IN200101UV01"):
        read_ack(shared_dir / "e2b" / "examples" / "fda-faers-2022" / "FAERS2022Scenario1.xml")


def test_ack_without_code_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ack"
    bad.write_text('<MCCI_IN200101UV01 xmlns="urn:hl7-org:v3"><id root="1" extension="2"/>'
                   '</MCCI_IN200101UV01>')
    with pytest.raises(InputError, match=r"ACK\.A\.4"):
        read_ack(bad)
    result = CliRunner().invoke(main, ["ack", str(bad)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_an_ack_with_padded_codes_reads_the_same(acks: Path, tmp_path: Path) -> None:
    """The receiver's tools may put spaces around codes (the HL7 token types collapse them)."""
    import re

    raw = (acks / "R3ack-positive.ack").read_bytes()
    padded = tmp_path / "padded.ack"
    padded.write_bytes(re.sub(rb'( (?:code|typeCode)=")([^"]*)"', rb'\1 \2 "', raw))
    assert padded.read_bytes() != raw
    assert read_ack(padded).to_json() == read_ack(acks / "R3ack-positive.ack").to_json()


def test_a_detail_with_a_semicolon_of_its_own_stays_one_detail(acks: Path, tmp_path: Path) -> None:
    """FDA packs errors as 'one.;Two'; one message written as prose ('C.1.5 is missing; add it') was split."""
    raw = (acks / "R3ack-negative.ack").read_text(encoding="utf-8")
    one = "Dose of drug 2 is 500 mg; the unit for 500 is not allowed here"
    edited = tmp_path / "prose.ack"
    edited.write_text(raw.replace("some ICSR message(s) need further action", one), encoding="utf-8")
    assert read_ack(edited).details == [one]
    assert len(read_ack(edited).messages[0].details) == 4  # the packed ones are still split


def test_a_business_rule_verdict_on_several_lines_is_one_detail_per_line(acks: Path, tmp_path: Path) -> None:
    """FDA's 2.18 rule verdict puts each rejection and warning on a line: the text printed them flush left, as if
    they were lines of the report's own, and JSON held them as one detail with line breaks inside."""
    raw = (acks / "R3ack-negative.ack").read_text(encoding="utf-8")
    verdict = ("Safety report not loaded; Validated against 2.18 business rules;\nRejections:\n"
               "1: G.k.9.i.2.r.1 is missing for a suspect drug.\nWarnings:\n1: FDA.C.5.6.r is invalid here.\n")
    edited = tmp_path / "verdict.ack"
    edited.write_text(raw.replace("some ICSR message(s) need further action", verdict), encoding="utf-8")
    assert read_ack(edited).details == [
        "Safety report not loaded; Validated against 2.18 business rules;", "Rejections:",
        "1: G.k.9.i.2.r.1 is missing for a suspect drug.", "Warnings:", "1: FDA.C.5.6.r is invalid here."]
    printed = CliRunner().invoke(main, ["ack", str(edited)]).output
    assert "\n  batch detail: Warnings:\n" in printed and "\nWarnings:" not in printed


def test_an_identifier_or_date_the_receiver_left_empty_is_absent(acks: Path, tmp_path: Path) -> None:
    """FDA's reject of a batch it could not parse has extension="" and value="" (ACK.B.r.3, ACK.B.r.5, ACK.A.2):
    they were read as empty strings, not as absent."""
    raw = (acks / "R3ack-negative.ack").read_text(encoding="utf-8")
    edited = tmp_path / "empty.ack"
    edited.write_text(raw.replace('extension="CDER"', 'extension=""').replace(
        'value value="20150227000000-0500"', 'value value=""').replace(
        'value value="20220815101246-0400"', 'value value=""'), encoding="utf-8")
    ack = read_ack(edited)
    assert ack.batch_transmitted is None
    [msg] = ack.messages
    assert (msg.sender, msg.message_created) == (None, None)


def test_an_ack_given_to_import_is_refused_as_an_ack_with_the_command_to_read_it(acks: Path) -> None:
    """ICH's ACK reference instance handed to `reporter import` was 'root element is {urn:hl7-org:v3}
    MCCI_IN200101UV01, expected MCCI_IN200100UV01': true, but not what the file is nor what to do with it."""
    from reporter.e2b.importer import import_file

    with pytest.raises(InputError) as refused:
        import_file(acks / "R3ack-positive.ack")
    assert "an E2B(R3) acknowledgement" in refused.value.message and "reporter ack" in (refused.value.hint or "")
    with pytest.raises(InputError) as batch:
        read_ack(acks / "FAERS2022Scenario1.xml")
    assert "an E2B(R3) ICSR batch" in batch.value.message and "reporter import" in (batch.value.hint or "")


def test_one_icsr_message_without_its_batch_is_refused_as_such(tmp_path: Path) -> None:
    from reporter.e2b.importer import import_file

    bare = tmp_path / "message.xml"
    bare.write_text('<PORR_IN049016UV xmlns="urn:hl7-org:v3"><id root="2.16.840.1.113883.3.989.2.1.3.1" '
                    'extension="M1"/></PORR_IN049016UV>')
    with pytest.raises(InputError) as refused:
        import_file(bare)
    assert "without its batch" in refused.value.message and "MCCI_IN200100UV01" in (refused.value.hint or "")
