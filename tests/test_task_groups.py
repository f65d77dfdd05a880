"""airflow_amplify.task_groups: the release stage's on/off flags."""

from __future__ import annotations

import pytest

from airflow_amplify.task_groups import _wanted


@pytest.mark.parametrize("value, wanted", [(True, True), (False, False), ("True", True), ("False", False)])
def test_stage_flag_is_a_bool_or_its_rendering(value, wanted):
    assert _wanted(value) is wanted


@pytest.mark.parametrize("value", ["yes", "1", "true", "None", "", " True", 1, None])
def test_stage_flag_refuses_truthy_strings_and_other_values(value):
    with pytest.raises(ValueError, match="use True or False"):
        _wanted(value)
