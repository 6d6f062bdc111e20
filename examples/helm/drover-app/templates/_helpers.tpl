{{/*
Expand the name of the chart.
*/}}
{{- define "drover-app.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create a default fully qualified app name.
We truncate at 63 chars because some Kubernetes name fields are limited to this (by the DNS naming spec).
If release name contains chart name it will be used as a full name.
*/}}
{{- define "drover-app.fullname" -}}
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
The full name with a suffix, still at most 63 chars (the full name is shortened, never the
suffix). Usage: include "drover-app.suffixedName" (list . "cookie-secret")
*/}}
{{- define "drover-app.suffixedName" -}}
{{- $ctx := index . 0 }}
{{- $suffix := index . 1 }}
{{- $base := include "drover-app.fullname" $ctx | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" }}
{{- printf "%s-%s" $base $suffix }}
{{- end }}

{{/*
The Drover group: app.kubernetes.io/name of the pods. The controller builds one member table
per value, so it must differ between apps: appName, else the release's full name.
*/}}
{{- define "drover-app.appName" -}}
{{- .Values.appName | default (include "drover-app.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Create chart name and version as used by the chart label.
*/}}
{{- define "drover-app.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Common labels. app.kubernetes.io/part-of: drover is the drover controller's default selector.
*/}}
{{- define "drover-app.labels" -}}
helm.sh/chart: {{ include "drover-app.chart" . }}
{{ include "drover-app.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: drover
{{- end }}

{{/*
Selector labels
*/}}
{{- define "drover-app.selectorLabels" -}}
app.kubernetes.io/name: {{ include "drover-app.appName" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The app image (drover-sidecar, node and the app).
*/}}
{{- define "drover-app.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "drover-app.cookieSecretName" -}}
{{- .Values.cookieSecret.existingSecret | default (include "drover-app.suffixedName" (list . "cookie-secret")) }}
{{- end }}

{{/*
The key of the cookie secret: "secret" in the chart's Secret, existingSecretKey in yours.
*/}}
{{- define "drover-app.cookieSecretKey" -}}
{{- if .Values.cookieSecret.existingSecret }}{{ .Values.cookieSecret.existingSecretKey }}{{ else }}secret{{ end }}
{{- end }}

{{/*
The container's resources: the values' memory and anything else, with cpu limit = workers
and cpu request = workers unless the values set a request.
*/}}
{{- define "drover-app.resources" -}}
{{- $workers := toString (int .Values.workers) }}
{{- $res := deepCopy (.Values.resources | default dict) }}
{{- $limits := $res.limits | default dict }}
{{- if and (hasKey $limits "cpu") (ne (toString (index $limits "cpu")) $workers) }}
{{- fail (printf "resources.limits.cpu (%v) must equal workers (%s): one core per worker; set workers instead" (index $limits "cpu") $workers) }}
{{- end }}
{{- $_ := set $limits "cpu" $workers }}
{{- $_ := set $res "limits" $limits }}
{{- $requests := $res.requests | default dict }}
{{- if not (hasKey $requests "cpu") }}
{{- $_ := set $requests "cpu" $workers }}
{{- end }}
{{- $_ := set $res "requests" $requests }}
{{- toYaml $res }}
{{- end }}
