{{/* The Secret with the certificates: tls.existingSecret, else "<release>-tls". */}}
{{- define "moor.tlsSecret" -}}
{{- if .Values.tls.existingSecret -}}
{{ .Values.tls.existingSecret }}
{{- else -}}
{{ .Release.Name }}-tls
{{- end -}}
{{- end -}}
