{{/* Chart name, truncated to 63 characters (DNS label limit). */}}
{{- define "tartan.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name: <release>-<chart>, or just <release> when it already contains the
chart name. Truncated to 50 characters so "<fullname>-indexer-<i>" stays a valid label.
*/}}
{{- define "tartan.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "tartan.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "tartan.labels" -}}
helm.sh/chart: {{ include "tartan.chart" . }}
app.kubernetes.io/name: {{ include "tartan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tartan
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "encoder"). */}}
{{- define "tartan.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tartan.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* All labels of one component; same arguments as tartan.selectorLabels. */}}
{{- define "tartan.componentLabels" -}}
{{ include "tartan.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "tartan.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Grace period: the preStop sleep, then the drain, then a margin for exit. */}}
{{- define "tartan.terminationGracePeriodSeconds" -}}
{{- if gt (int .Values.terminationGracePeriodSeconds) 0 -}}
{{- int .Values.terminationGracePeriodSeconds -}}
{{- else -}}
{{- add (int .Values.preStopSleepSeconds) (int (ceil .Values.drainGraceSeconds)) 10 -}}
{{- end -}}
{{- end -}}

{{/* Headless Service name of the indexer StatefulSet (also its serviceName). */}}
{{- define "tartan.indexerService" -}}
{{- printf "%s-indexer" (include "tartan.fullname" .) -}}
{{- end -}}

{{/*
The router's --shards value: the indexer pods' stable DNS names in ordinal order,
<fullname>-indexer-<i>.<fullname>-indexer.<namespace>.svc.<clusterDomain>:<port>.
*/}}
{{- define "tartan.shardList" -}}
{{- $fullname := include "tartan.fullname" . -}}
{{- $service := include "tartan.indexerService" . -}}
{{- $shards := list -}}
{{- range $i := until (int .Values.indexer.shards) -}}
{{- $shards = append $shards (printf "%s-indexer-%d.%s.%s.svc.%s:%d" $fullname $i $service $.Release.Namespace $.Values.clusterDomain (int $.Values.indexer.ports.grpc)) -}}
{{- end -}}
{{- join "," $shards -}}
{{- end -}}

{{- define "tartan.encoderAddress" -}}
{{- if .Values.router.encoderAddress -}}
{{- .Values.router.encoderAddress -}}
{{- else -}}
{{- printf "%s-encoder:%d" (include "tartan.fullname" .) (int .Values.encoder.ports.grpc) -}}
{{- end -}}
{{- end -}}

{{/* The folder the encoder loads. */}}
{{- define "tartan.modelPath" -}}
{{- $path := .Values.encoder.model.path -}}
{{- if and (not $path) (eq .Values.encoder.model.source "testModel") -}}
{{- $path = "test-model" -}}
{{- end -}}
{{- if not $path -}}
{{- fail "encoder.model.path is required when encoder.model.source is pvc or hostPath" -}}
{{- end -}}
{{- printf "/models/%s" $path -}}
{{- end -}}

{{/*
Lifecycle, probes and security shared by the three containers.
Call with (dict "root" $ "values" .Values.<component>).
Startup and readiness use the native gRPC probe (grpc.health.v1, empty service name), which
turns SERVING only once the model is loaded / the shard recovered and NOT_SERVING again while
draining. It takes a port *number*: Kubernetes does not resolve named ports for gRPC probes.
Liveness asks the separate metrics server (named port) instead: it only has to show the
process is alive, and must not fail because gRPC is saturated by a burst of searches or
encodes, since a restart costs a model load or a WAL replay.
*/}}
{{- define "tartan.containerCommon" -}}
{{- $v := .values -}}
securityContext:
  {{- toYaml .root.Values.containerSecurityContext | nindent 2 }}
lifecycle:
  preStop:
    exec:
      command: ["sleep", "{{ int .root.Values.preStopSleepSeconds }}"]
ports:
  - name: grpc
    containerPort: {{ int $v.ports.grpc }}
    protocol: TCP
  - name: metrics
    containerPort: {{ int $v.ports.metrics }}
    protocol: TCP
startupProbe:
  grpc:
    port: {{ int $v.ports.grpc }}
  periodSeconds: {{ int $v.startupProbe.periodSeconds }}
  failureThreshold: {{ int $v.startupProbe.failureThreshold }}
  timeoutSeconds: 5
readinessProbe:
  grpc:
    port: {{ int $v.ports.grpc }}
  periodSeconds: {{ int $v.readinessProbe.periodSeconds }}
  failureThreshold: {{ int $v.readinessProbe.failureThreshold }}
  timeoutSeconds: 3
livenessProbe:
  httpGet:
    path: /metrics
    port: metrics
  periodSeconds: {{ int $v.livenessProbe.periodSeconds }}
  failureThreshold: {{ int $v.livenessProbe.failureThreshold }}
  timeoutSeconds: {{ int $v.livenessProbe.timeoutSeconds }}
{{- with $v.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod-level scheduling and security; same arguments as tartan.containerCommon. */}}
{{- define "tartan.podCommon" -}}
{{- $v := .values -}}
terminationGracePeriodSeconds: {{ include "tartan.terminationGracePeriodSeconds" .root }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
