"""Backend secret paths (against the CLI's own ParameterPathConversions) and the SSM hook on moto."""

from __future__ import annotations

import json
import random
import shutil
import string
import subprocess
from pathlib import Path

import pytest

from airflow_amplify.hooks.secrets import (
    AmplifySecretsHook,
    amplify_secret_path,
    find_missing_secrets,
    missing_secrets_message,
    secret_name_from_ampx_error,
)

CLI_CACHE = Path.home() / ".cache/airflow-amplify/ampx/1.10.0/node_modules/@aws-amplify/platform-core"


def test_facts_page_example():
    assert (
        amplify_secret_path("d1abcdefgh1234", "main", "NAME")
        == "/amplify/d1abcdefgh1234/main-branch-823652aa49/NAME"
    )
    assert amplify_secret_path("d1abcdefgh1234", None, "NAME") == "/amplify/shared/d1abcdefgh1234/NAME"


def test_branch_path_follows_the_stack_names_sanitization_and_hash():
    # '/', '.', '#' and '_' are dropped, uppercase kept; the hash tells apart branches that sanitize alike
    a = amplify_secret_path("d1abc", "Feature/My.Branch#1", "K")
    b = amplify_secret_path("d1abc", "feature/my.branch#1", "K")
    assert a.startswith("/amplify/d1abc/FeatureMyBranch1-branch-")
    assert b.startswith("/amplify/d1abc/featuremybranch1-branch-") and a != b


def test_branch_without_letters_or_digits_gets_an_empty_name_part():
    path = amplify_secret_path("d1abc", "#/-", "K")
    assert path.startswith("/amplify/d1abc/-branch-") and path.endswith("/K")


def _generated_branches(n: int = 60) -> list[str]:
    rng = random.Random(21)
    alphabet = string.ascii_letters + string.digits + "/._-#"
    names = [
        "main",
        "feature/x",
        "UPPER/lower",
        "a.b.c",
        "hash#tag",
        "#/-",
        "x/" * 40,
        "é" * 30 + "z",
        "q" * 120,
    ]
    return names + ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 90))) for _ in range(n)]


@pytest.mark.ampx
def test_paths_equal_the_clis_to_parameter_full_path():
    """Runs ParameterPathConversions.toParameterFullPath of the installed ampx under Node."""
    if not (CLI_CACHE / "lib/parameter_path_conversions.js").exists() or not shutil.which("node"):
        pytest.skip("ampx 1.10.0 is not installed (scripts/install-ampx) or node is missing")
    cases = [["d1abcdefgh1234", b] for b in _generated_branches()]
    cases += [["d" + "9" * n, "feature/" + "q" * n] for n in (5, 19)]
    script = (
        "const {ParameterPathConversions: P} = require(process.argv[1] + '/lib/parameter_path_conversions.js');"
        "const cases = JSON.parse(process.argv[2]);"
        "console.log(JSON.stringify(cases.map(([a, b]) => [P.toParameterFullPath({namespace: a, name: b, type: 'branch'}, 'MY_SECRET'),"
        " P.toParameterFullPath(a, 'MY_SECRET')])));"
    )
    out = subprocess.run(
        ["node", "-e", script, str(CLI_CACHE), json.dumps(cases)], capture_output=True, text=True, check=True
    )
    expected = json.loads(out.stdout)
    assert len(expected) == len(cases) > 60
    assert expected == [
        [amplify_secret_path(a, b, "MY_SECRET"), amplify_secret_path(a, None, "MY_SECRET")] for a, b in cases
    ]


def test_secret_name_is_read_from_ampxs_error():
    message = "The secret STRIPE_KEY specified in the backend does not exist."
    assert secret_name_from_ampx_error(message) == "STRIPE_KEY"
    assert secret_name_from_ampx_error("Something else") is None


def test_missing_message_names_both_paths_and_how_to_set_them():
    text = missing_secrets_message("d1abc", "main", ["A"])
    assert amplify_secret_path("d1abc", "main", "A") in text
    assert "/amplify/shared/d1abc/A" in text
    assert "AmplifyBackendSecretsOperator" in text and "not `ampx sandbox secret set`" in text


@pytest.fixture
def hook(amplify_world, aws_connections):
    return AmplifySecretsHook(aws_conn_id="aws_staging")


def test_put_secrets_is_idempotent_and_returns_no_values(amplify_world, hook):
    prefix = "/amplify/d1abc/main-branch-823652aa49"
    assert hook.put_secrets(prefix, {"A": "one", "B": "two"}) == {"A": "created", "B": "created"}
    assert hook.put_secrets(prefix, {"A": "one", "B": "two"}) == {"A": "unchanged", "B": "unchanged"}
    assert hook.put_secrets(prefix, {"A": "uno", "B": "two"}) == {"A": "updated", "B": "unchanged"}
    stored = amplify_world.client("ssm").get_parameter(Name=f"{prefix}/A", WithDecryption=True)["Parameter"]
    assert stored["Type"] == "SecureString" and stored["Value"] == "uno"


def test_a_plain_string_parameter_is_rewritten_as_secure_string(amplify_world, hook):
    ssm = amplify_world.client("ssm")
    ssm.put_parameter(Name="/amplify/shared/d1abc/A", Value="same", Type="String")
    assert hook.put_secrets("/amplify/shared/d1abc", {"A": "same"}) == {"A": "updated"}
    assert ssm.get_parameter(Name="/amplify/shared/d1abc/A")["Parameter"]["Type"] == "SecureString"


def test_prune_deletes_only_unlisted_names_under_the_path(amplify_world, hook):
    ssm = amplify_world.client("ssm")
    for name in ("KEEP", "OLD1", "OLD2"):
        ssm.put_parameter(Name=f"/amplify/shared/d1abc/{name}", Value="v", Type="SecureString")
    ssm.put_parameter(Name="/amplify/shared/d1other/OLD1", Value="v", Type="SecureString")
    assert hook.put_secrets("/amplify/shared/d1abc", {"KEEP": "v"}) == {"KEEP": "unchanged"}
    assert len(ssm.get_parameters_by_path(Path="/amplify/shared/d1abc")["Parameters"]) == 3
    result = hook.put_secrets("/amplify/shared/d1abc", {"KEEP": "v"}, prune=True)
    assert result == {"KEEP": "unchanged", "OLD1": "deleted", "OLD2": "deleted"}
    assert [p["Name"] for p in ssm.get_parameters_by_path(Path="/amplify/shared/d1abc")["Parameters"]] == [
        "/amplify/shared/d1abc/KEEP"
    ]
    assert ssm.get_parameter(Name="/amplify/shared/d1other/OLD1")  # another app's path untouched


def test_kms_key_id_is_passed_to_put_parameter(amplify_world, hook):
    key = amplify_world.client("kms").create_key()["KeyMetadata"]["KeyId"]
    hook.put_secrets("/amplify/shared/d1abc", {"A": "v"}, kms_key_id=key)
    described = amplify_world.client("ssm").describe_parameters()["Parameters"]
    assert [p.get("KeyId") for p in described if p["Name"] == "/amplify/shared/d1abc/A"] == [key]


def test_missing_secrets_looks_at_branch_then_shared_path(amplify_world, hook):
    ssm = amplify_world.client("ssm")
    ssm.put_parameter(Name=amplify_secret_path("d1abc", "main", "BRANCH"), Value="v", Type="SecureString")
    ssm.put_parameter(Name=amplify_secret_path("d1abc", None, "SHARED"), Value="v", Type="SecureString")
    ssm.put_parameter(Name=amplify_secret_path("d1abc", "dev", "OTHER"), Value="v", Type="SecureString")
    names = ["BRANCH", "SHARED", "OTHER"] + [f"N{i}" for i in range(12)]  # more than one GetParameters batch
    assert find_missing_secrets(ssm, "d1abc", "main", names) == ["OTHER"] + [f"N{i}" for i in range(12)]
    assert hook.missing_secrets("d1abc", "main", ["BRANCH", "SHARED"]) == []
