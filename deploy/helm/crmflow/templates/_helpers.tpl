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
     the command docker-compose.yml runs), values key and, for the Kafka consumers (whose useful
     replicas are bound by partitions), their consumer group (crmflow_evaluator.app's Faust app id,
     crmflow_runner.bootstrap.GROUP_ID). */}}
{{- define "crmflow.components" -}}
rules-api: {command: crmflow-api, values: rulesApi, partitionBound: false}
evaluator: {command: crmflow-evaluator, values: evaluator, partitionBound: true, group: crmflow-evaluator}
action-runner: {command: crmflow-runner, values: actionRunner, partitionBound: true, group: crmflow-action-runner}
{{- end }}

{{/* Whether a component's replicas are set by an autoscaler (HPA or KEDA), not the Deployment. */}}
{{- define "crmflow.autoscaled" -}}
{{- $v := index .ctx.Values .c.values }}
{{- if or $v.autoscaling.enabled (dig "keda" "enabled" false $v) }}true{{ end }}
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

{{/* Max replicas of a component under its autoscaler ("scaler": autoscaling or keda): for
partition-bound consumers 0 means kafka.topicPartitions. */}}
{{- define "crmflow.maxReplicas" -}}
{{- $v := index (index .ctx.Values .c.values) (default "autoscaling" .scaler) }}
{{- if and .c.partitionBound (eq (int $v.maxReplicas) 0) }}
{{- .ctx.Values.kafka.topicPartitions }}
{{- else }}
{{- $v.maxReplicas }}
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
{{- if $v.keda.enabled }}
{{- if $v.autoscaling.enabled }}
{{- fail (printf "%s.autoscaling.enabled (CPU) and %s.keda.enabled (consumer lag) are alternatives: enable one" $c.values $c.values) }}
{{- end }}
{{- if gt (int (include "crmflow.maxReplicas" (dict "ctx" $ "c" $c "scaler" "keda"))) $partitions }}
{{- fail (printf "%s.keda.maxReplicas exceeds kafka.topicPartitions=%d" $c.values $partitions) }}
{{- end }}
{{- if and (ne $.Values.kafka.securityProtocol "PLAINTEXT") (not $v.keda.authenticationRef) }}
{{- fail (printf "kafka.securityProtocol %s needs %s.keda.authenticationRef (a KEDA TriggerAuthentication with the Kafka credentials)" $.Values.kafka.securityProtocol $c.values) }}
{{- end }}
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
