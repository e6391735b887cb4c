#include "kube/pod_template.h"

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/status_context.h"
#include "common/status_macros.h"
#include "kube/merge.h"
#include "kube/patch_schema.h"

namespace tether::kube {
namespace {

using json = nlohmann::json;

// A layer is a PodTemplateSpec; anything else at the top (say a bare PodSpec
// with `containers`) is a mistake that a merge would silently carry along.
absl::Status CheckLayer(const json& layer) {
  if (!layer.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected an object (a PodTemplateSpec), got ", layer.type_name()));
  }
  for (auto it = layer.begin(); it != layer.end(); ++it) {
    if (it.key() != "metadata" && it.key() != "spec") {
      return absl::InvalidArgumentError(
          absl::StrCat(it.key(),
                       ": unexpected field; a pod template has only "
                       "\"metadata\" and \"spec\""));
    }
  }
  return absl::OkStatus();
}

MergeOptions ContainerLayer(const std::string& path) {
  return {MergeMode::kLayer, kContainerType, path};
}

std::string ContainerPath(const std::string& name) {
  return absl::StrCat("spec.containers[name=", name, "]");
}

// Folds "default" and "primary" into the real containers and drops them.
absl::Status ApplyContainerConventions(json& spec,
                                       const std::string& main_container) {
  auto containers = spec.find("containers");
  if (containers == spec.end() || containers->is_null()) {
    return absl::OkStatus();
  }
  // A lone layer may set `containers` to anything; only a list has entries.
  if (!containers->is_array()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec.containers: expected a list, got ", containers->type_name()));
  }
  json base_default;
  json base_primary;
  json kept = json::array();
  for (std::size_t i = 0; i < containers->size(); ++i) {
    // MergeInto has checked that every entry is an object with a name.
    json& c = (*containers)[i];
    if (!c["name"].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("spec.containers[", i, "].name: expected a string, got ",
                       c["name"].type_name()));
    }
    const std::string& name = c["name"].get_ref<const std::string&>();
    if (name == kDefaultContainer) {
      base_default = std::move(c);
    } else if (name == kPrimaryContainer) {
      base_primary = std::move(c);
    } else {
      kept.push_back(std::move(c));
    }
  }
  bool main_found = false;
  for (json& c : kept) {
    const std::string name = c["name"].get<std::string>();
    const std::string path = ContainerPath(name);
    json out = base_default.is_null() ? json::object() : base_default;
    if (name == main_container) {
      main_found = true;
      if (!base_primary.is_null()) {
        absl::Status s = MergeInto(out, base_primary, ContainerLayer(path));
        if (!s.ok()) return WithContext("applying container \"primary\"", s);
      }
    }
    absl::Status s = MergeInto(out, c, ContainerLayer(path));
    if (!s.ok()) {
      return WithContext(absl::StrCat("applying container \"", name,
                                      "\" over \"default\"/\"primary\""),
                         s);
    }
    c = std::move(out);
  }
  if (!base_primary.is_null() && !main_found) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec.containers: a \"primary\" container is given but no container "
        "is named \"",
        main_container, "\""));
  }
  *containers = std::move(kept);
  return absl::OkStatus();
}

absl::StatusOr<json> Layer(const PodLayers& layers) {
  struct Named {
    const char* label;
    const json* layer;
  };
  std::vector<Named> order;
  if (!layers.named.is_null()) {
    order.push_back({"pod_template_name", &layers.named});
  } else if (!layers.namespace_default.is_null()) {
    order.push_back(
        {"namespace default pod template", &layers.namespace_default});
  } else if (!layers.global_default.is_null()) {
    order.push_back({"global default pod template", &layers.global_default});
  }
  order.push_back({"compute", &layers.compute});
  order.push_back({"pod_template", &layers.inline_template});

  json result = json::object();
  for (const Named& n : order) {
    if (n.layer->is_null()) continue;
    absl::Status s = CheckLayer(*n.layer);
    if (s.ok()) {
      s = MergeInto(result, *n.layer,
                    {MergeMode::kLayer, kPodTemplateSpecType, ""});
    }
    if (!s.ok()) return WithContext(n.label, s);
  }
  for (const char* field : {"metadata", "spec"}) {
    json& v = result[field];
    if (v.is_null()) v = json::object();
    if (!v.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": expected an object, got ", v.type_name()));
    }
  }
  RETURN_IF_ERROR(
      ApplyContainerConventions(result["spec"], layers.main_container));
  return result;
}

// Every container entry under spec.template.spec, for ApplyServiceTemplate.
absl::Status CheckNoConventionContainers(const json& service_template) {
  const json::json_pointer pod_spec("/spec/template/spec");
  if (!service_template.contains(pod_spec)) return absl::OkStatus();
  const json& spec = service_template.at(pod_spec);
  if (!spec.is_object()) return absl::OkStatus();  // MergeInto reports it.
  for (const char* list : {"containers", "initContainers"}) {
    auto it = spec.find(list);
    if (it == spec.end() || !it->is_array()) continue;
    for (const json& c : *it) {
      if (!c.is_object()) continue;
      auto name = c.find("name");
      if (name == c.end() || !name->is_string()) continue;
      const std::string& n = name->get_ref<const std::string&>();
      if (n == kDefaultContainer || n == kPrimaryContainer) {
        return absl::InvalidArgumentError(absl::StrCat(
            "service_template: spec.template.spec.", list, "[name=", n,
            "]: \"default\" and \"primary\" are only recognized in pod "
            "templates; name the container"));
      }
    }
  }
  return absl::OkStatus();
}

// "/metadata/name" as "metadata.name".
std::string DottedPath(const char* pointer) {
  std::string field(pointer + 1);
  for (char& ch : field) {
    if (ch == '/') ch = '.';
  }
  return field;
}

// A workload whose pod template lacks a label its selector matches is
// refused by the API server ("selector does not match template labels").
absl::Status CheckSelectedLabels(const json& workload) {
  const json::json_pointer match("/spec/selector/matchLabels");
  const json::json_pointer labels("/spec/template/metadata/labels");
  if (!workload.contains(match) || !workload.at(match).is_object() ||
      !workload.contains(json::json_pointer("/spec/template"))) {
    return absl::OkStatus();
  }
  const json pod_labels =
      workload.contains(labels) ? workload.at(labels) : json::object();
  for (const auto& [key, value] : workload.at(match).items()) {
    if (!pod_labels.is_object() || pod_labels.value(key, json()) != value) {
      return absl::InvalidArgumentError(
          absl::StrCat("service_template: spec.template.metadata.labels[\"",
                       key, "\"]: must stay ", value.dump(),
                       " (spec.selector matches the pods by it)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<nlohmann::json> LayerPodSpec(const PodLayers& layers) {
  try {
    return Layer(layers);
  } catch (const json::exception& e) {
    return absl::InternalError(
        absl::StrCat("JSON error while layering pod templates: ", e.what()));
  }
}

absl::StatusOr<nlohmann::json> PodTemplateSpecOf(
    const nlohmann::json& pod_template) {
  if (!pod_template.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected a PodTemplate object, got ", pod_template.type_name()));
  }
  auto kind = pod_template.find("kind");
  if (kind == pod_template.end() || *kind != "PodTemplate") {
    return absl::InvalidArgumentError("kind: expected \"PodTemplate\"");
  }
  auto spec = pod_template.find("template");
  if (spec == pod_template.end() || !spec->is_object()) {
    return absl::InvalidArgumentError(
        "template: a PodTemplate needs an object \"template\"");
  }
  return *spec;
}

absl::Status ApplyServiceTemplate(nlohmann::json& object,
                                  const nlohmann::json& service_template) {
  if (service_template.is_null()) return absl::OkStatus();
  if (!object.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("service_template: the rendered object is ",
                     object.type_name(), ", not an object"));
  }
  if (!service_template.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("service_template: expected an object, got ",
                     service_template.type_name()));
  }
  try {
    RETURN_IF_ERROR(CheckNoConventionContainers(service_template));
    json result = object;
    const absl::Status s =
        MergeInto(result, service_template,
                  {MergeMode::kStrategicPatch, SchemaTypeOfObject(object), ""});
    if (!s.ok()) return WithContext("service_template", s);
    struct Fixed {
      const char* pointer;
      const char* why;
    };
    for (const Fixed& fixed : {
             Fixed{"/apiVersion", "tetherd finds its objects by it"},
             Fixed{"/kind", "tetherd finds its objects by it"},
             Fixed{"/metadata/name", "tetherd finds its objects by it"},
             Fixed{"/metadata/namespace", "tetherd finds its objects by it"},
             Fixed{"/spec/selector",
                   "it is immutable, and tetherd finds the pods by it"},
         }) {
      const json::json_pointer p(fixed.pointer);
      const json before = object.contains(p) ? object.at(p) : json();
      const json after = result.contains(p) ? result.at(p) : json();
      if (before != after) {
        return absl::InvalidArgumentError(
            absl::StrCat("service_template: ", DottedPath(fixed.pointer),
                         ": may not be changed (", fixed.why, ")"));
      }
    }
    RETURN_IF_ERROR(CheckSelectedLabels(result));
    object = std::move(result);
    return absl::OkStatus();
  } catch (const json::exception& e) {
    return absl::InternalError(
        absl::StrCat("service_template: JSON error while merging: ", e.what()));
  }
}

}  // namespace tether::kube
