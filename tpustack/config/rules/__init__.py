"""Cross-field rules of a stack config: one small function per rule, each yielding typed ``Problem``s.

Three kinds, by what a rule looks at: the stack as a whole (``stack``, ``serving``), one serving unit
(``units``: its accelerator, replicas, region), and one capacity option of a unit (``capacity``). ``problems``
runs every stack rule once, and every unit and capacity rule on every unit the stack serves
(tpustack.config.units), so a plain stack, each variant and each extra region are checked by the same code and
the same mistake gives one problem, keyed where the user states it. The loader raises one ``ConfigError`` with
all of them, before any resource is declared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from tpustack.core.errors import Problem

from ..model import StackConfig
from ..units import CapacityOption, ServingUnit
from . import autoscaling, capacity, disaggregation, hyperdisk, offload, routing, serving, stack, units, workload

StackRule = Callable[[StackConfig], Iterator[Problem]]
UnitRule = Callable[[StackConfig, ServingUnit], Iterator[Problem]]
CapacityRule = Callable[[StackConfig, ServingUnit, CapacityOption], Iterator[Problem]]

# Always.
STACK_RULES: list[StackRule] = [
    stack.results_stack_owns_only_the_bucket,
    stack.experiment_has_accelerator,
    stack.zones_in_region,
    stack.credentials_only_in_secret_fields,
    stack.variants_serve_on_gke,
    stack.variants_state_their_own_replicas,
    stack.variants_serve_something,
    stack.gateway_fronts_variants,
    stack.regions_listed_once,
    stack.image_preload_fits_stack,
    autoscaling.one_form,
    autoscaling.section_fits_stack,
    autoscaling.bounds,
    *disaggregation.RULES,
]
# When the stack serves something (it has units).
SERVING_RULES: list[StackRule] = [
    serving.model_facts_known,
    serving.tpu_vm_runs_workloads_not_engines,
    serving.engine_settings_match_engine,
    serving.engine_has_model,
    serving.maxtext_needs_model_name,
    serving.benchmark_needs_engine,
    serving.benchmark_tool_drives_engine,
    serving.benchmark_load_fits_tool,
    serving.gated_model_has_token,
    serving.weights_outside_the_results_bucket,
    serving.weight_path_fits_model,
    serving.stage_fits_model,
    *hyperdisk.STACK_RULES,
    stack.tpu_containers_unprivileged,
    serving.jetstream_http_port,
    serving.maxtext_model_is_convertible,
    serving.context_fits_model,
    serving.eos_setting_is_what_the_tool_does,
    routing.precise_prefix_has_kv_events,
    *workload.RULES,
]
UNIT_RULES: list[UnitRule] = [
    units.topology_matches_catalog,
    units.machine_type_matches_catalog,
    units.tpu_vm_is_a_tpu_with_runtime,
    units.tpu_vm_single_zone,
    units.engine_runs_on_accelerator,
    units.tensor_parallel_spans_replica,
    units.autoscaling_fits_shape,
    units.multi_host_single_zone,
    units.multi_host_one_slice_per_pool,
    units.compute_class_units_single_host,
    units.model_fits_hbm,
    units.tensor_parallel_fits_heads,
    units.expert_parallel_needs_experts,
    units.gke_heartbeat_single_host,
    autoscaling.hpa_fits_pool,
    units.tpu7x_multi_host_needs_workload_policy,
    units.capacity_options_listed_once,
    *offload.RULES,
    *hyperdisk.UNIT_RULES,
]
CAPACITY_RULES: list[CapacityRule] = [
    capacity.reservation_named,
    capacity.calendar_reservation_has_a_window,
    capacity.flex_start_outlives_ttl,
    capacity.flex_start_without_auto_repair,
    capacity.flex_start_on_gke_only,
    capacity.compute_class_priorities,
]


def problems(cfg: StackConfig) -> list[Problem]:
    """Every cross-field problem of a config whose fields are individually valid, each once, in rule order."""
    found: dict[Problem, None] = {}

    def add(ps: Iterable[Problem]) -> None:
        found.update(dict.fromkeys(ps))

    for rule in STACK_RULES:
        add(rule(cfg))
    if cfg.units:
        for srule in SERVING_RULES:
            add(srule(cfg))
        for unit in cfg.units:
            for urule in UNIT_RULES:
                add(urule(cfg, unit))
            for option in unit.capacity:
                for crule in CAPACITY_RULES:
                    add(crule(cfg, unit, option))
    return list(found)
