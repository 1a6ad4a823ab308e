{{- define "defender-bridge.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "defender-bridge.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "defender-bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "defender-bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "defender-bridge.labels" -}}
{{ include "defender-bridge.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* This replica's share of the tenant's Defender quota: rateShare, else 1/replicaCount. */}}
{{- define "defender-bridge.rateShare" -}}
{{- if .Values.rateShare -}}
{{- .Values.rateShare -}}
{{- else -}}
{{- $replicas := int .Values.replicaCount -}}
{{- if lt $replicas 1 -}}{{- fail "replicaCount must be at least 1" -}}{{- end -}}
{{- printf "%.6f" (divf 1 $replicas) -}}
{{- end -}}
{{- end -}}

{{- define "defender-bridge.callersName" -}}
{{- if .Values.callers.existingSecret -}}
{{- .Values.callers.existingSecret -}}
{{- else -}}
{{- printf "%s-callers" (include "defender-bridge.fullname" .) -}}
{{- end -}}
{{- end -}}
