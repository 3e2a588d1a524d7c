"""Template reading and intrinsic resolution (no server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sagepipe_local.deployer import TemplateDeployer, zip_directory
from sagepipe_local.intrinsics import NO_VALUE, Resolver, ResourceHandle, UnresolvableError
from sagepipe_local.stack import DEFAULT_TEMPLATE
from sagepipe_local.template_loader import TemplateError, load_template, parse_template

FIXTURES = Path(__file__).parent / "fixtures"


def _resolver(
    parameters: dict[str, Any] | None = None, conditions: dict[str, Any] | None = None
) -> Resolver:
    return Resolver(
        parameters=parameters or {"Env": "prod", "Sizes": ["s", "m"], "Count": "3"},
        pseudo_parameters={
            "AWS::Region": "us-east-1",
            "AWS::AccountId": "123456789012",
            "AWS::NoValue": NO_VALUE,
        },
        conditions=conditions or {},
        mappings={"Sizes": {"prod": {"Memory": 1024}}},
        resources={
            "Bucket": ResourceHandle(ref="my-bucket", attributes={"Arn": "arn:aws:s3:::my-bucket"}),
        },
    )


def test_short_form_tags_become_long_form() -> None:
    template = parse_template(
        """
        AWSTemplateFormatVersion: 2010-09-09
        Resources:
          R:
            Type: X
            Properties:
              A: !Ref Env
              B: !GetAtt Bucket.Arn
              C: !Sub "${Env}-x"
              D: !If [Cond, !Join ["-", [a, b]], !Select [0, !Split [",", "a,b"]]]
              E: !Not [!Equals [!Ref Env, dev]]
              F: !Condition Cond
              G: !FindInMap [Sizes, !Ref Env, Memory]
        """
    )
    props = template["Resources"]["R"]["Properties"]
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    assert props["A"] == {"Ref": "Env"}
    assert props["B"] == {"Fn::GetAtt": ["Bucket", "Arn"]}
    assert props["C"] == {"Fn::Sub": "${Env}-x"}
    assert props["D"] == {
        "Fn::If": [
            "Cond",
            {"Fn::Join": ["-", ["a", "b"]]},
            {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]},
        ]
    }
    assert props["E"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "Env"}, "dev"]}]}
    assert props["F"] == {"Condition": "Cond"}
    assert props["G"] == {"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Memory"]}


def test_product_template_and_fixture_parse() -> None:
    if DEFAULT_TEMPLATE.is_file():
        assert "Resources" in load_template(DEFAULT_TEMPLATE)
    assert "Resources" in load_template(FIXTURES / "template.yaml")


def test_sub_resolves_parameters_pseudo_attributes_and_escapes() -> None:
    resolver = _resolver()
    assert (
        resolver.resolve({"Fn::Sub": "${AWS::Region}/${Env}/${Bucket.Arn}/${!Literal}"})
        == "us-east-1/prod/arn:aws:s3:::my-bucket/${Literal}"
    )
    assert resolver.resolve({"Fn::Sub": ["${Name}-${Bucket}", {"Name": {"Ref": "Env"}}]}) == (
        "prod-my-bucket"
    )


def test_no_value_removes_keys_and_list_items() -> None:
    resolver = _resolver(conditions={"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}})
    value = resolver.resolve(
        {
            "Keep": {"Fn::If": ["IsProd", "yes", "no"]},
            "Drop": {"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, "x"]},
            "List": ["a", {"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, "b"]}],
        }
    )
    assert value == {"Keep": "yes", "List": ["a"]}


def test_no_value_from_deployer_pseudo_parameters(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text(
        """
        Parameters:
          Name: {Type: String, Default: ""}
        Conditions:
          NoName: !Equals [!Ref Name, ""]
        Resources:
          B:
            Type: AWS::S3::Bucket
            Properties:
              BucketName: !If [NoName, !Ref AWS::NoValue, !Ref Name]
        """
    )
    deployer = TemplateDeployer(template, endpoint_url="http://127.0.0.1:1")
    handles = deployer.plan()
    assert handles["B"].ref == "sagepipe-b"
    deployer = TemplateDeployer(
        template, endpoint_url="http://127.0.0.1:1", parameter_overrides={"Name": "given"}
    )
    assert deployer.plan()["B"].ref == "given"


def test_join_select_split_find_in_map_and_conditions() -> None:
    resolver = _resolver(
        conditions={
            "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
            "CountIsThree": {"Fn::Equals": [3, {"Ref": "Count"}]},
            "Both": {"Fn::And": [{"Condition": "IsProd"}, {"Condition": "CountIsThree"}]},
            "Either": {"Fn::Or": [{"Fn::Not": [{"Condition": "IsProd"}]}, {"Condition": "Both"}]},
        }
    )
    assert resolver.resolve({"Fn::Join": [",", {"Ref": "Sizes"}]}) == "s,m"
    assert resolver.resolve({"Fn::Select": [1, {"Fn::Split": ["/", "a/b/c"]}]}) == "b"
    assert resolver.resolve({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Memory"]}) == 1024
    assert resolver.condition("CountIsThree") is True  # numbers compare as strings
    assert resolver.condition("Both") is True
    assert resolver.condition("Either") is True


def test_unknown_references_are_unresolvable() -> None:
    resolver = _resolver()
    with pytest.raises(UnresolvableError):
        resolver.resolve({"Ref": "Nowhere"})
    with pytest.raises(UnresolvableError):
        resolver.resolve({"Fn::GetAtt": ["Bucket", "WebsiteURL"]})
    with pytest.raises(UnresolvableError):
        resolver.resolve({"Fn::ImportValue": "x"})


def test_parameter_overrides_are_validated() -> None:
    template = FIXTURES / "template.yaml"
    with pytest.raises(TemplateError, match="not declared"):
        TemplateDeployer(template, endpoint_url="http://x", parameter_overrides={"Nope": "1"})
    with pytest.raises(TemplateError, match="not one of"):
        TemplateDeployer(template, endpoint_url="http://x", parameter_overrides={"Flavor": "x"})


def test_allowed_pattern_is_checked(tmp_path: Path) -> None:
    template = tmp_path / "t.yaml"
    template.write_text(
        'Parameters:\n  P: {Type: String, Default: "a", AllowedPattern: "^[a-z]$"}\n'
        "Resources:\n  T: {Type: AWS::SNS::Topic}\n"
    )
    with pytest.raises(TemplateError, match="does not match"):
        TemplateDeployer(template, endpoint_url="http://x", parameter_overrides={"P": "A1"})


def test_globals_merge_and_conditions_in_plan() -> None:
    deployer = TemplateDeployer(
        FIXTURES / "template.yaml",
        endpoint_url="http://x",
        parameter_overrides={"Flavor": "chocolate"},
    )
    handles = deployer.plan()
    assert "ChocolateTopic" in handles  # its condition holds with this flavor
    assert handles["EchoFunction"].attributes["Arn"].endswith(":function:sagepipe-EchoFunction")
    assert handles["HelperRole"].attributes["Arn"] == (
        "arn:aws:iam::123456789012:role/sagepipe-helper"
    )
    echo = deployer.resource_properties("EchoFunction")
    # Globals: maps merge (the function wins), lists concatenate (globals first).
    assert echo["Environment"]["Variables"]["SHARED"] == "from-function"
    assert "GREETING" in echo["Environment"]["Variables"]
    assert echo["Layers"] == [{"Ref": "HelperLayer"}, {"Ref": "RequirementsLayer"}]
    assert echo["MemorySize"] == 256
    assert echo["Timeout"] == 10


def test_zip_skips_bytecode_caches(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "__pycache__" / "m.cpython-312.pyc").write_bytes(b"x")
    (tmp_path / "pkg" / "m.py").write_text("X = 1\n")
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(zip_directory(tmp_path))).namelist()
    assert names == ["pkg/m.py"]
