{{- define "nksr.name" -}}nksr-worker{{- end -}}

{{- define "nksr.labels" -}}
app.kubernetes.io/name: {{ include "nksr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "nksr.selector" -}}
app.kubernetes.io/name: {{ include "nksr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "nksr.buildId" -}}{{ .Values.versioning.buildId | default .Values.image.tag }}{{- end -}}

{{- /* The Temporal connection, as envconfig reads it (src/worker/config.ts). */ -}}
{{- define "nksr.temporalEnv" -}}
- { name: TEMPORAL_ADDRESS, value: {{ .Values.temporal.address | quote }} }
- { name: TEMPORAL_NAMESPACE, value: {{ .Values.temporal.namespace | quote }} }
{{- if .Values.temporal.tls.enabled }}
- { name: TEMPORAL_TLS_CLIENT_CERT_PATH, value: /etc/nksr-tls/tls.crt }
- { name: TEMPORAL_TLS_CLIENT_KEY_PATH, value: /etc/nksr-tls/tls.key }
- { name: TEMPORAL_TLS_SERVER_CA_CERT_PATH, value: /etc/nksr-tls/ca.crt }
{{- with .Values.temporal.tls.serverName }}
- { name: TEMPORAL_TLS_SERVER_NAME, value: {{ . | quote }} }
{{- end }}
{{- end }}
{{- if .Values.temporal.apiKeySecret.name }}
- name: TEMPORAL_API_KEY
  valueFrom:
    secretKeyRef: { name: {{ .Values.temporal.apiKeySecret.name | quote }}, key: {{ .Values.temporal.apiKeySecret.key | quote }} }
{{- end }}
{{- end -}}
