"""Removing what onboarding made, two ways that share the same primitives.

* Rollback (compensation of a failed onboarding): `RecordBaseline`, the first onboarding step, snapshots
  every entity the onboarding may create or change (`baseline.py`); each compensation state then removes
  what exists now and did not exist in that snapshot, restores what this execution changed, and keeps
  everything else. Shared entities (CASTKopsPolicyV2 and its versions, CastLambdaRoleForSpot) go only
  when no other cluster uses them. Every removal is idempotent: a retried or rerun compensation finds
  nothing left to do.
* Offboarding: everything we made for one cluster, found by our names and our managed-by tag/label
  (never by guessing), then the shared entities once the last cluster is gone.
"""
