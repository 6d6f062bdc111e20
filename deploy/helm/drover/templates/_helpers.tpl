{{/*
Expand the name of the chart.
*/}}
{{- define "drover.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "drover.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The full name with a suffix, still at most 63 chars: the full name is shortened, never the
suffix, so two objects never end up with the same truncated name.
Usage: include "drover.suffixedName" (list . "admin-token")
*/}}
{{- define "drover.suffixedName" -}}
{{- $ctx := index . 0 }}
{{- $suffix := index . 1 }}
{{- $base := include "drover.fullname" $ctx | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" }}
{{- printf "%s-%s" $base $suffix }}
{{- end }}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "drover.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels. No app.kubernetes.io/part-of: drover here: that is the controller's default
selector of app pods, and the controller's own pods are not members.
*/}}
{{- define "drover.labels" -}}
helm.sh/chart: {{ include "drover.chart" . }}
{{ include "drover.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: controller
{{- end }}

{{/*
Labels of the `helm test` pod: not the selector labels, so that neither the Service nor the
PodDisruptionBudget counts it as a controller.
*/}}
{{- define "drover.testLabels" -}}
helm.sh/chart: {{ include "drover.chart" . }}
app.kubernetes.io/name: {{ include "drover.name" . | trunc 58 | trimSuffix "-" }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: test
{{- end }}

{{/*
Selector labels
*/}}
{{- define "drover.selectorLabels" -}}
app.kubernetes.io/name: {{ include "drover.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Create the name of the service account to use
*/}}
{{- define "drover.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "drover.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The controller image: one image for drover-controller, drover-sidecar and droverctl.
*/}}
{{- define "drover.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Names of the Secrets holding the admin and sidecar tokens (the chart's, or existing ones).
*/}}
{{- define "drover.adminSecretName" -}}
{{- .Values.admin.existingSecret | default (include "drover.suffixedName" (list . "admin-token")) }}
{{- end }}

{{- define "drover.sidecarSecretName" -}}
{{- .Values.sidecarAuth.existingSecret | default (include "drover.suffixedName" (list . "sidecar-token")) }}
{{- end }}

{{/*
The key of the token in those Secrets: "token" in the chart's, existingSecretKey in yours.
*/}}
{{- define "drover.adminSecretKey" -}}
{{- if .Values.admin.existingSecret }}{{ .Values.admin.existingSecretKey }}{{ else }}token{{ end }}
{{- end }}

{{- define "drover.sidecarSecretKey" -}}
{{- if .Values.sidecarAuth.existingSecret }}{{ .Values.sidecarAuth.existingSecretKey }}{{ else }}token{{ end }}
{{- end }}

{{/*
The gRPC address of the controller Service, as clients in the cluster use it.
*/}}
{{- define "drover.grpcAddress" -}}
{{- printf "%s.%s.svc:7000" (include "drover.fullname" .) .Release.Namespace }}
{{- end }}

{{/*
A token generated once and kept: the value already in the named Secret when there is one (on
upgrade), else 32 random alphanumerics. Base64, ready for a Secret's data.
`helm template` and client-side dry runs cannot look Secrets up, so they always show a new one.
Usage: include "drover.keptToken" (dict "ctx" . "name" $secretName "key" "token")
*/}}
{{- define "drover.keptToken" -}}
{{- $secret := lookup "v1" "Secret" .ctx.Release.Namespace .name }}
{{- if and $secret $secret.data (hasKey $secret.data .key) }}
{{- index $secret.data .key }}
{{- else }}
{{- randAlphaNum 32 | b64enc }}
{{- end }}
{{- end }}

{{/*
RBAC rules, the same for the namespaced Role and the optional ClusterRole: pods for the
member tables and Drain (an annotation patch); the scale subresource for Scale. Nothing else.
*/}}
{{- define "drover.rbacRules" -}}
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["apps"]
  resources: ["deployments/scale", "statefulsets/scale"]
  verbs: ["get", "patch", "update"]
{{- end }}
