"""One RunSettings per suite: validated once, shared by every RunSpec, never copied by hand."""

from __future__ import annotations

import dataclasses
import json

import pytest

from bench.config import (
    SETTINGS_FIELDS,
    ConfigError,
    RunSettings,
    RunSpec,
    Suite,
    load_suite,
    suite_from_dict,
)
from bench.record import run_identity
from bench.results import RUN_IDENTITY_FIELDS


def test_run_specs_hold_the_suites_settings_object_itself():
    suite = load_suite("smoke")
    for spec in suite.run_specs():
        if spec.variant in suite.variant_steps:
            expected = dataclasses.replace(suite.settings, steps=suite.variant_steps[spec.variant])
            assert spec.settings == expected
        else:
            assert spec.settings is suite.settings


def test_a_variants_own_steps_and_preset_replace_the_suites_for_that_variant_only():
    suite = load_suite("smoke").with_changes(
        variant_steps={"dcgan": 60}, variant_presets={"dcgan": "half", "vanilla": "paper"}
    )
    by_variant = {spec.variant: spec.settings for spec in suite.run_specs()}
    assert (by_variant["dcgan"].steps, by_variant["dcgan"].spec_preset) == (60, "half")
    assert by_variant["dcgan"] == dataclasses.replace(suite.settings, steps=60, spec_preset="half")
    assert by_variant["vanilla"] == dataclasses.replace(suite.settings, spec_preset="paper")
    assert by_variant["lsgan"] is suite.settings


def test_a_variants_own_timeout_replaces_the_suites_for_that_variant_only():
    suite = load_suite("smoke").with_changes(variant_timeout_s={"dcgan": 900})
    by_variant = {spec.variant: spec.settings for spec in suite.run_specs()}
    assert by_variant["dcgan"].timeout_s == 900
    assert by_variant["dcgan"].steps == suite.variant_steps["dcgan"]  # the other keys still apply
    assert by_variant["vanilla"] is suite.settings and suite.settings.timeout_s == 600


@pytest.mark.parametrize(
    ("timeouts", "message"),
    [
        ({"wgan": 10}, "variant_timeout_s: unknown value 'wgan'; allowed: conditional, dcgan"),
        ({"dcgan": 0}, "variant_timeout_s.dcgan = 0; must be > 0"),
        ({"dcgan": "ten"}, "variant_timeout_s = {'dcgan': 'ten'}; expected seconds (numbers)"),
        ({"dcgan": True}, "variant_timeout_s = {'dcgan': True}; expected seconds (numbers)"),
        ([600], "variant_timeout_s = [600]; expected dict"),
    ],
)
def test_a_bad_variant_timeout_is_one_error_naming_it(timeouts, message):
    with pytest.raises(ConfigError) as raised:
        suite_from_dict({"name": "bad", "variant_timeout_s": timeouts})
    assert message in str(raised.value)


def test_no_setting_is_a_field_of_the_suite_or_the_run_spec_beside_settings():
    for kind in (Suite, RunSpec):
        assert {f.name for f in dataclasses.fields(kind)} & set(SETTINGS_FIELDS) == set()


def test_run_spec_json_round_trips_for_every_run_of_every_suite():
    for name in ("smoke", "gpu"):
        for spec in load_suite(name).run_specs("/data", "/w.pth", "/cache"):
            assert RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_run_ids_keep_their_format_with_every_tag():
    suite = suite_from_dict(
        {"name": "ids", "variants": ["ssgan"], "frameworks": ["tf"], "steps": 60, "tf32": True}
        | {"deterministic": False, "spec_preset": "tiny", "ssl_labels": 20, "eval_samples": 500}
    )
    [spec] = suite.run_specs()
    assert spec.run_id == "ssgan-tf-digits-cpu-fp32-default-b64-n60-tiny-l20-e500-tf32-nondet-s0"


def test_a_bad_setting_fails_when_the_settings_are_made_and_when_a_suite_changes_them():
    with pytest.raises(ConfigError, match="timing_windows = 3; must be >= 5"):
        RunSettings(timing_windows=3)
    with pytest.raises(ConfigError, match="steps = 10 leaves 5 timed steps"):
        load_suite("smoke").with_changes(steps=10, warmup_steps=5, variant_steps={})
    with pytest.raises(ConfigError, match="unknown key 'step'"):
        suite_from_dict({"name": "typo", "step": 10})


def test_a_suite_file_key_lands_in_the_suite_or_its_settings():
    suite = suite_from_dict({"name": "split", "threads": 1, "seeds": [3], "max_mem_mb": 512})
    assert (suite.settings.threads, suite.settings.max_mem_mb, suite.seeds) == (1, 512, (3,))


def test_the_row_identity_is_read_off_the_run_spec_and_its_settings():
    keys = {"variants": ["vanilla"], "frameworks": ["torch"], "threads": 1, "tf32": True}
    [spec] = suite_from_dict({"name": "one", "max_mem_mb": 512, **keys}).run_specs()
    identity = run_identity(spec)
    assert tuple(identity) == RUN_IDENTITY_FIELDS
    assert identity == {
        "run_id": spec.run_id,
        "suite": "one",
        "variant": "vanilla",
        "framework": "torch",
        "dataset": "digits",
        "seed": 0,
        "batch_size": 64,
        "steps": 300,
        "device": "cpu",
        "precision": "fp32",
        "compile": "default",
        "spec_preset": "paper",
        "threads": 1,
        "deterministic": True,
        "max_mem_mb": 512,
        "tf32": True,
        "eval_samples": 10_000,
        "train_budget_s": None,
    }
