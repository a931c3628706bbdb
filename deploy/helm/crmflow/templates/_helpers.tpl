{{/* Names, labels and the shared pieces of every workload. */}}

{{- define "crmflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "crmflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "crmflow.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "crmflow.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The long-running services: name -> the image's entrypoint (a console script of pyproject.toml,
     the command docker-compose.yml runs) and values key. */}}
{{- define "crmflow.components" -}}
rules-api: {command: crmflow-api, values: rulesApi, partitionBound: false}
evaluator: {command: crmflow-evaluator, values: evaluator, partitionBound: true}
action-runner: {command: crmflow-runner, values: actionRunner, partitionBound: true}
{{- end }}

{{/* selectorLabels: (dict "ctx" $ "component" NAME) */}}
{{- define "crmflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crmflow.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "crmflow.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version | replace "+" "_" }}
{{ include "crmflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: crmflow
{{- end }}

{{- define "crmflow.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{- define "crmflow.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "crmflow.fullname" .) }}
{{- end }}

{{/* The connector file (deploy/connect/crmflow-outbox.json through the files/ symlink), parsed. */}}
{{- define "crmflow.connectorJson" -}}
{{- $raw := .Files.Get "files/crmflow-outbox.json" }}
{{- if not $raw }}
{{- fail "files/crmflow-outbox.json is missing: it must link to deploy/connect/crmflow-outbox.json" }}
{{- end }}
{{- $raw }}
{{- end }}

{{/* Max replicas of a component: for partition-bound consumers 0 means kafka.topicPartitions. */}}
{{- define "crmflow.maxReplicas" -}}
{{- $v := index .ctx.Values .c.values }}
{{- if and .c.partitionBound (eq (int $v.autoscaling.maxReplicas) 0) }}
{{- .ctx.Values.kafka.topicPartitions }}
{{- else }}
{{- $v.autoscaling.maxReplicas }}
{{- end }}
{{- end }}

{{/* Refuse configurations that cannot work; included by the ConfigMap (always rendered). */}}
{{- define "crmflow.validate" -}}
{{- $partitions := int .Values.kafka.topicPartitions }}
{{- range $name, $c := include "crmflow.components" . | fromYaml }}
{{- $v := index $.Values $c.values }}
{{- if $c.partitionBound }}
{{- if gt (int $v.replicas) $partitions }}
{{- fail (printf "%s.replicas=%d exceeds kafka.topicPartitions=%d: extra consumers would sit idle" $c.values (int $v.replicas) $partitions) }}
{{- end }}
{{- if gt (int (include "crmflow.maxReplicas" (dict "ctx" $ "c" $c))) $partitions }}
{{- fail (printf "%s.autoscaling.maxReplicas exceeds kafka.topicPartitions=%d" $c.values $partitions) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.connect.register.enabled .Values.connect.strimzi.enabled }}
{{- fail "connect.register.enabled and connect.strimzi.enabled are alternatives: enable one" }}
{{- end }}
{{- if and (hasPrefix "SASL" .Values.kafka.securityProtocol) (not .Values.kafka.sasl.username) }}
{{- fail "kafka.securityProtocol SASL_* needs kafka.sasl.username (and CRMFLOW_KAFKA_SASL_PASSWORD in the Secret)" }}
{{- end }}
{{- end }}

{{/* Pod-level settings shared by Deployments and Jobs. */}}
{{- define "crmflow.podSpecCommon" -}}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
securityContext: {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Container-level settings shared by every crmflow container: image, env, security, volumes. */}}
{{- define "crmflow.containerCommon" -}}
image: {{ include "crmflow.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
envFrom:
  - configMapRef:
      name: {{ include "crmflow.fullname" . }}
  - secretRef:
      name: {{ include "crmflow.secretName" . }}
securityContext: {{- toYaml .Values.securityContext | nindent 2 }}
volumeMounts:
  - {name: run, mountPath: /var/lib/crmflow}
  - {name: tmp, mountPath: /tmp}
  {{- if .Values.kafka.tls.caSecret }}
  - {name: kafka-ca, mountPath: /etc/crmflow/kafka-ca, readOnly: true}
  {{- end }}
{{- end }}

{{- define "crmflow.volumes" -}}
- {name: run, emptyDir: {}}
- {name: tmp, emptyDir: {}}
{{- if .Values.kafka.tls.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.tls.caSecret }}
{{- end }}
{{- end }}
