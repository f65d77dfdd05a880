"""airflow_amplify.validation: the kinds of bad input it refuses, and that every operator and
sensor parameter has a declared kind (so a new parameter cannot skip validation)."""

from __future__ import annotations

import inspect
import math
import subprocess
import warnings
from datetime import UTC, datetime, timedelta

import pytest

from airflow_amplify import validation as v
from airflow_amplify.operators.amplify import AmplifyStartJobOperator, AmplifyWebhookBuildOperator
from tests.reliability.test_bad_inputs import provider_task_classes

WEBHOOK = "https://webhooks.amplify.eu-west-1.amazonaws.com/prod/webhooks?id=abc123&token=sekrit-token"

#: Classes whose constructor parameters the provider's tasks inherit and must declare.
PROVIDER_BASES = ("AwsBaseOperator", "AwsBaseSensor")


def constructor_parameters(cls: type) -> set[str]:
    """The keyword parameters of ``cls`` and of its bases in this package and the amazon provider's AWS bases."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or not (
            klass.__module__.startswith("airflow_amplify") or klass.__name__ in PROVIDER_BASES
        ):
            continue
        for parameter in inspect.signature(init).parameters.values():
            if parameter.name != "self" and parameter.kind not in (
                parameter.VAR_KEYWORD,
                parameter.VAR_POSITIONAL,
            ):
                names.add(parameter.name)
    return names


# --- the table covers every parameter -------------------------------------------------------------


def test_every_operator_and_sensor_parameter_has_a_declared_kind():
    classes = provider_task_classes()
    assert len(classes) >= 8
    undeclared = {
        cls.__name__: sorted(constructor_parameters(cls) - set(cls.parameter_kinds)) for cls in classes
    }
    assert {name: missing for name, missing in undeclared.items() if missing} == {}
    # "region": the AWS bases' deprecated alias of region_name, where the amazon provider still has it
    stale = {
        cls.__name__: sorted(set(cls.parameter_kinds) - constructor_parameters(cls) - {"region"})
        for cls in classes
    }
    assert {name: extra for name, extra in stale.items() if extra} == {}
    # the AWS bases' parameters are among those enumerated: the check reaches past this package
    assert {"aws_conn_id", "region_name", "verify", "botocore_config"} <= constructor_parameters(
        AmplifyStartJobOperator
    )


def test_a_new_parameter_without_a_kind_is_found():
    class WithANewParameter(AmplifyStartJobOperator):
        def __init__(self, *, new_knob: int = 3, **kwargs):
            super().__init__(**kwargs)
            self.new_knob = new_knob

    WithANewParameter.__module__ = "airflow_amplify.operators.amplify"
    assert constructor_parameters(WithANewParameter) - set(AmplifyStartJobOperator.parameter_kinds) == {
        "new_knob"
    }


def test_parameters_no_template_can_change_are_checked_in_init():
    with pytest.raises(ValueError, match=r"deferrable='false' is not valid; use True or False"):
        AmplifyStartJobOperator(task_id="t", app_id="d1abc", branch_name="main", deferrable="false")
    with pytest.raises(ValueError, match=r"waiter_delay='5' is not valid"):
        AmplifyStartJobOperator(task_id="t", app_id="d1abc", branch_name="main", waiter_delay="5")
    # templated ones wait for execute: the template has not rendered yet
    task = AmplifyStartJobOperator(task_id="t", app_id="{{ params.app }}", branch_name="main")
    assert task.app_id == "{{ params.app }}"


# --- kinds ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [True, False, "1", "5s", math.nan, math.inf, -math.inf, -1, 0, [5], timedelta(seconds=-1)]
)
def test_durations_take_exact_positive_finite_numbers(value):
    with pytest.raises(ValueError, match="waiter_delay="):
        v.to_seconds(value, "waiter_delay")


def test_durations_accept_numbers_and_timedeltas():
    assert v.to_seconds(5, "d") == 5.0
    assert v.to_seconds(0.5, "d") == 0.5
    assert v.to_seconds(timedelta(minutes=1), "d") == 60.0
    assert v.to_seconds(0, "d", allow_zero=True) == 0.0
    assert v.to_seconds(None, "d") is None


@pytest.mark.parametrize("value", [True, 0, -1, 1.0, "3", None])
def test_counts_are_exact_ints(value):
    with pytest.raises(ValueError, match="upload_attempts="):
        v.to_count(value, "upload_attempts")


@pytest.mark.parametrize("value", ["false", "no", "0", 0, 1, None, "True"])
def test_booleans_refuse_truthy_strings_and_ints(value):
    with pytest.raises(ValueError, match="create_branch="):
        v.BOOL.check("create_branch", value)


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("None", "rendered a missing value"),
        ("null", "rendered a missing value"),
        ("   ", "only whitespace"),
        ("main\n", "leading or trailing whitespace"),
        (" main", "leading or trailing whitespace"),
        ("ma\x00in", "control characters"),
        ("ma\u2028in", "control characters"),
        (3, "must be a string; got int"),
    ],
)
def test_branch_names_refuse_rendered_none_whitespace_and_control_characters(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        v.validate_amplify_value("branch_name", value, "BranchName")


def test_branch_names_longer_than_amplify_allows_are_refused():
    with pytest.raises(ValueError, match="1 to 255 characters long; it has 256"):
        v.validate_amplify_value("branch_name", "b" * 256, "BranchName")


def test_commit_messages_may_have_line_breaks_inside():
    v.validate_amplify_value("commit_message", "Fix\n\nLonger body", "CommitMessage", required=False)
    with pytest.raises(ValueError, match="trailing whitespace"):
        v.validate_amplify_value("commit_message", "Fix\n", "CommitMessage", required=False)


@pytest.mark.parametrize(
    "name",
    ["stack\n", "my-stack\n", " my-stack", "arn:aws:cloudformation:eu-west-1:123456789012:stack/s/1\n"],
)
def test_stack_names_refuse_a_trailing_newline(name):
    with pytest.raises(ValueError, match="is not a CloudFormation stack name"):
        v.validate_stack_name(name)


@pytest.mark.parametrize(
    "url, fragment",
    [
        (WEBHOOK.replace("https://", "https://user@"), "user info"),
        (WEBHOOK.replace(".com/", ".com:8443/"), "a port"),
        (WEBHOOK + "#frag", "a fragment"),
        (WEBHOOK.replace("/prod/webhooks", "/prod/other"), "the path '/prod/other'"),
        (WEBHOOK + "&token=again", "repeated: token"),
        (WEBHOOK + "&operation=startbuild", "other: operation"),
        (WEBHOOK + "\n", "whitespace or control characters"),
    ],
)
def test_webhook_urls_must_have_the_exact_amplify_shape(url, fragment):
    with pytest.raises(ValueError) as err:
        v.validate_webhook_url(url, param="the URL in connection 'c'")
    assert fragment in str(err.value)
    assert "sekrit-token" not in str(err.value)


def test_a_good_webhook_url_gives_its_id():
    assert v.validate_webhook_url(WEBHOOK) == "abc123"


def test_a_bare_token_in_a_repository_url_is_refused_and_redacted():
    url = "https://ghp_bareToken123@github.com/org/app.git"
    assert v.redact_url(url) == "https://***@github.com/org/app.git"
    with pytest.raises(ValueError) as err:
        v.validate_repo_url(url)
    assert "ghp_bareToken123" not in str(err.value)
    assert "https://***@github.com/org/app.git" in str(err.value)
    # ssh keeps its user name: it is part of the address, not a secret
    assert v.validate_repo_url("ssh://git@github.com/org/app.git")


@pytest.mark.parametrize("value", [WEBHOOK, "token=abc", "https://user:pw@host/x"])
def test_a_url_where_a_connection_id_belongs_is_refused_without_showing_it(value):
    with pytest.raises(ValueError) as err:
        v.check_connection_id("webhook_conn_id", value)
    assert "holds a URL" in str(err.value)
    assert "sekrit-token" not in str(err.value) and "pw" not in str(err.value).replace("password", "")


def test_shown_redacts_tokens_and_userinfo():
    assert "sekrit-token" not in v.shown(WEBHOOK)
    assert "pw" not in v.shown("https://u:pw@host/x")


@pytest.mark.parametrize(
    "env, fragment",
    [
        ({"AWS_REGION": "x"}, "starts with 'AWS'"),
        ({"aws_thing": "x"}, "starts with 'AWS'"),
        ({"MY VAR": "x"}, "no spaces or line breaks"),
        ({"MY_VAR\n": "x"}, "no spaces or line breaks"),
        ({"1VAR": "x"}, "not starting with a digit"),
        ({"OK": 3}, "must be a string; got int"),
        (["A=1"], "must be a mapping"),
    ],
)
def test_branch_environment_variable_names_amplify_refuses(env, fragment):
    with pytest.raises(ValueError, match=fragment):
        v.check_branch_environment_variables("environment_variables", env)


def test_s3_urls_for_a_zip_need_a_key():
    with pytest.raises(ValueError, match="names no object"):
        v.parse_s3_url("s3://bucket/", need_key=True)
    with pytest.raises(ValueError, match="no user info, port, query or fragment"):
        v.parse_s3_url("s3://bucket:99/site.zip")
    assert v.parse_s3_url("s3://bucket/site.zip", need_key=True) == ("bucket", "site.zip")


def test_paths_of_the_wrong_kind(tmp_path):
    with pytest.raises(ValueError, match="a directory, not a file"):
        v.check_path("ampx_path", str(tmp_path), must="executable")
    script = tmp_path / "ampx"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(ValueError, match="is not executable"):
        v.check_path("ampx_path", str(script), must="executable")
    with pytest.raises(ValueError, match="leading or trailing whitespace"):
        v.check_path("out_dir", f"{tmp_path}\n")


def test_an_output_directory_that_cannot_be_created_is_refused(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="cannot be created: .* is not a writable directory"):
        v.check_directory_or_missing(str(a_file / "out"), "out_dir")


def test_changed_since_in_the_future_is_refused():
    future = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(ValueError, match="is in the future"):
        v.check_changed_since("changed_since", future, ("dag_run_start",))
    with pytest.raises(ValueError, match="is in the future"):
        v.check_changed_since("changed_since", future.isoformat(), ("dag_run_start",))
    v.check_changed_since("changed_since", "dag_run_start", ("dag_run_start",))
    v.check_changed_since("changed_since", datetime.now(UTC) - timedelta(minutes=1), ("dag_run_start",))


# --- defects of issue #18 ---------------------------------------------------------------------------


def test_webhook_build_renders_a_templated_app_id():
    task = AmplifyWebhookBuildOperator(task_id="w", app_id="{{ app }}", webhook_id="{{ hook }}")
    assert "app_id" in task.template_fields
    task.render_template_fields({"app": "d1abcdefgh1234", "hook": "w1"})
    assert task.app_id == "d1abcdefgh1234"
    assert task.webhook_id == "w1"


def test_job_summary_console_url_follows_the_partition():
    from airflow_amplify.jobs import job_summary

    job = {"summary": {"jobId": "7", "status": "SUCCEED"}}
    china = job_summary(job, "d1abc", "main", "cn-north-1", "aws-cn")
    assert china["console_url"].startswith("https://cn-north-1.console.amazonaws.cn/")
    assert "aws.amazon.com" in job_summary(job, "d1abc", "main", "eu-west-1", "aws")["console_url"]


def test_start_job_with_no_attempts_is_an_input_error(aws_connections, staging_app):
    from airflow_amplify.hooks.amplify import AmplifyHook

    with pytest.raises(ValueError, match="attempts=0 is not valid; use an integer >= 1"):
        AmplifyHook(aws_conn_id="aws_staging").start_job(staging_app["app_id"], "main", attempts=0)


def test_outputs_version_defaults_agree_with_ampx():
    from airflow_amplify.hooks.outputs import (
        AmplifyOutputsHook,
        generate_outputs_native,
        render_outputs_native,
    )
    from airflow_amplify.operators.ampx import AmplifyGenerateOutputsOperator, AmplifyPipelineDeployOperator
    from airflow_amplify.outputs import mapping

    functions = [
        mapping.build_outputs,
        mapping.generate_outputs,
        generate_outputs_native,
        render_outputs_native,
        AmplifyOutputsHook.generate_outputs,
        AmplifyOutputsHook.render_outputs,
        AmplifyGenerateOutputsOperator.__init__,
        AmplifyPipelineDeployOperator.__init__,
    ]
    defaults = {f.__qualname__: inspect.signature(f).parameters["outputs_version"].default for f in functions}
    assert set(defaults.values()) == {"1.5"}, defaults


def test_read_commit_hands_git_only_an_allowlisted_environment(tmp_path, monkeypatch):
    """A stand-in git on PATH writes the environment it got; the worker's secrets are not in it."""
    from airflow_amplify.hooks.source import read_commit

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    seen = tmp_path / "env.txt"
    git = bin_dir / "git"
    git.write_text(f"#!/bin/sh\nenv > {seen}\nprintf 'abc123\\000subject\\n'\n")
    git.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret-key")
    monkeypatch.setenv("AIRFLOW_CONN_SOMETHING", "postgres://u:worker-db-password@db/x")
    assert read_commit(tmp_path) == ("abc123", "subject")
    env = seen.read_text()
    assert "worker-secret-key" not in env and "worker-db-password" not in env
    assert "LC_ALL=C" in env and f"PATH={bin_dir}" in env


def test_remove_workspace_uses_no_deprecated_rmtree_argument(tmp_path):
    from airflow_amplify.hooks.source import AmplifySourceHook

    workspace = tmp_path / "ws"
    (workspace / "sub").mkdir(parents=True)
    (workspace / "sub" / "f").write_text("x")
    (workspace / "sub").chmod(0o500)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AmplifySourceHook.remove_workspace(workspace)
    assert not workspace.exists()


def test_a_passphrase_does_not_replace_the_https_token(tmp_path, monkeypatch):
    """With a token and an SSH key passphrase in one connection, each prompt gets its own answer."""
    import json

    from airflow_amplify.hooks.source import AmplifySourceHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_GIT_BOTH",
        json.dumps(
            {
                "conn_type": "git",
                "login": "bot",
                "password": "https-token-1",
                "extra": {"private_key": "KEY", "private_key_passphrase": "key-passphrase-2"},
            }
        ),
    )
    hook = AmplifySourceHook(git_conn_id="git_both", repo_url="https://example.com/org/app.git")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with hook.auth_env(private) as auth:
        askpass = auth.env["GIT_ASKPASS"]

        def answer(prompt: str) -> str:
            env = {"PATH": "/usr/bin:/bin", **auth.env}
            return subprocess.run(
                [askpass, prompt], env=env, capture_output=True, text=True, check=True
            ).stdout

        assert answer("Username for 'https://example.com': ") == "bot\n"
        assert answer("Password for 'https://bot@example.com': ") == "https-token-1\n"
        assert answer(f"Enter passphrase for key '{private}/id_key': ") == "key-passphrase-2\n"
