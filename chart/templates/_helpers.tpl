{{/* Labels every object of the chart carries. */}}
{{- define "hodegos.labels" -}}
app.kubernetes.io/part-of: hodegos
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/* Pod selector labels of one component: (dict "root" $ "component" "webhook"). */}}
{{- define "hodegos.selector" -}}
app.kubernetes.io/name: hodegos-{{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{/* An image reference: (dict "root" $ "name" "hodegos"). */}}
{{- define "hodegos.image" -}}
{{ .root.Values.image.registry }}/{{ .name }}:{{ .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- end }}

{{/* Pod Security "restricted" for a container: non-root, no privilege escalation, no capabilities,
     a read-only root file system, the runtime's default seccomp profile. */}}
{{- define "hodegos.restricted" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities: {drop: [ALL]}
  seccompProfile: {type: RuntimeDefault}
{{- end }}

{{- define "hodegos.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  seccompProfile: {type: RuntimeDefault}
{{- end }}

{{- define "hodegos.pullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{ toYaml . | indent 2 }}
{{- end }}
{{- end }}
