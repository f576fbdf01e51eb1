"""Spot interruptions, in the order they are handled (as node-termination-handler's monitor -> event -> node):
plan (what to do about an event, by when), authentic (could our rules have delivered it), service (one event
end to end), dedup, node (instance -> cluster -> node, the cordon patch), drain, lifecycle (ASG hook actions),
replace (early replacement), node_events (Kubernetes Events on the node), outcome, notify; canary checks the
drain path before an interruption does."""
