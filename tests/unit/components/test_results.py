"""ResultsStore from its own Args: the results stack owns a bucket nothing can delete; experiments only look it up."""

from __future__ import annotations

import pytest

from tpustack.components.results import ResultsStore, ResultsStoreArgs

from helpers import MockStack, after, mock_stack_fixture, stand_in

stack = mock_stack_fixture()

BUCKET = "gcp:storage/bucket:Bucket"
GET_BUCKET = "gcp:storage/getBucket:getBucket"
NAME = "unit-project-tpustack-results"
LABELS = {"tpustack-stack": "results", "tpustack-keep": "true"}


def args(own: bool) -> ResultsStoreArgs:
    return ResultsStoreArgs(bucket=NAME, project="unit-project", own=own, location="US-EAST5", labels=LABELS)


def build(stack: MockStack, own: bool, **kw) -> ResultsStore:
    return stack.build(lambda: ResultsStore("results", args(own), **kw))


class TestResultsBucketSurvivesDestroy:
    """README "Teardown that keeps results": the bucket refuses destroy, and after an unprotect is forgotten, not
    deleted."""

    def test_owned_bucket_is_protected_retained_and_abandoned(self, stack):
        comp = build(stack, own=True)
        (bucket,) = stack.children(comp, BUCKET)
        assert bucket.protect, "Pulumi must refuse to delete the results bucket"
        assert bucket.retain_on_delete, "after an unprotect, destroy must forget the bucket, not delete it"
        assert bucket.inputs["deletionPolicy"] == "ABANDON"
        assert bucket.inputs["forceDestroy"] is False, "force_destroy would delete every object with the bucket"

    def test_overwrites_keep_the_older_generation(self, stack):
        comp = build(stack, own=True)
        (bucket,) = stack.children(comp, BUCKET)
        assert bucket.inputs["versioning"] == {"enabled": True}

    def test_an_experiment_declares_no_bucket_to_destroy(self, stack):
        """An experiment's destroy cannot delete what it never declared: it only looks the bucket up."""
        comp = build(stack, own=False)
        assert stack.descendants(comp) == [], "an experiment must not own any resource of the results store"
        assert stack.of_type(BUCKET) == []
        (lookup,) = [i for i in stack.invokes if i.token == GET_BUCKET]
        assert lookup.args["name"] == NAME
        assert comp.owned is False


class TestBucketIsPrivate:
    def test_uniform_access_and_public_access_prevention(self, stack):
        comp = build(stack, own=True)
        (bucket,) = stack.children(comp, BUCKET)
        assert bucket.inputs["uniformBucketLevelAccess"] is True
        assert bucket.inputs["publicAccessPrevention"] == "enforced"

    def test_name_place_and_labels_are_the_args(self, stack):
        comp = build(stack, own=True)
        (bucket,) = stack.children(comp, BUCKET)
        assert bucket.name == "results-bucket"
        assert bucket.inputs["name"] == NAME and bucket.inputs["project"] == "unit-project"
        assert bucket.inputs["location"] == "US-EAST5"
        assert bucket.inputs["labels"] == LABELS


class TestOutputsNameTheBucket:
    @pytest.mark.parametrize("own", [True, False])
    def test_name_and_url(self, stack, own):
        comp = build(stack, own=own)
        assert stack.resolve(comp.name) == NAME
        assert stack.resolve(comp.url) == f"gs://{NAME}"


class TestChildrenWaitForTheApis:
    def test_the_owned_bucket_waits_for_what_the_caller_names(self, stack):
        def make():
            apis = stand_in("apis-ready")
            return apis, ResultsStore("results", args(own=True), opts=after(apis))

        apis, comp = stack.build(make)
        (bucket,) = stack.children(comp, BUCKET)
        assert bucket.waits_for(stack.urn(apis))

    def test_without_a_caller_dependency_it_waits_for_nothing(self, stack):
        """The companion: the dependency above comes from opts.depends_on, not from anywhere else."""
        comp = build(stack, own=True)
        (bucket,) = stack.children(comp, BUCKET)
        assert bucket.depends_on == frozenset()
