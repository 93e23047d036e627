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

{{/*
The indexers' --codec_source when indexer.shareCodec: shard 0 (the first of tartan.shardList)
trains the index's codec and every other shard adopts it; shard 0 recognises itself.
*/}}
{{- define "tartan.codecSource" -}}
{{- printf "%s-indexer-0.%s.%s.svc.%s:%d" (include "tartan.fullname" .) (include "tartan.indexerService" .) .Release.Namespace .Values.clusterDomain (int .Values.indexer.ports.grpc) -}}
{{- end -}}

{{/* Headless Service of the encoder Deployment: the router resolves it to every Ready pod. */}}
{{- define "tartan.encoderHeadlessService" -}}
{{- printf "%s-encoder-headless" (include "tartan.fullname" .) -}}
{{- end -}}

{{- define "tartan.encoderAddress" -}}
{{- if .Values.router.encoderAddress -}}
{{- .Values.router.encoderAddress -}}
{{- else -}}
{{- printf "dns:///%s.%s.svc.%s:%d" (include "tartan.encoderHeadlessService" .) .Release.Namespace .Values.clusterDomain (int .Values.encoder.ports.grpc) -}}
{{- end -}}
{{- end -}}

{{- define "tartan.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tartan.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Encoder replicas the PDB can count on: the HPA's minimum, else replicas. */}}
{{- define "tartan.encoderMinReplicas" -}}
{{- if .Values.encoder.autoscaling.enabled -}}
{{- int .Values.encoder.autoscaling.minReplicas -}}
{{- else -}}
{{- int .Values.encoder.replicas -}}
{{- end -}}
{{- end -}}

{{/*
TLS and API-key settings of one component, as ConfigMap lines (TARTAN_<FLAG>: value); call
with (dict "root" $ "component" "encoder"). Files come from the Secret volumes mounted by
tartan.securityVolumeMounts. Without TLS every service gets --insecure: the binaries refuse
plaintext on a non-loopback address otherwise. The router also needs --insecure to answer
without --api_keys_file.
*/}}
{{- define "tartan.securityConfig" -}}
{{- $tls := .root.Values.tls -}}
{{- $keys := .root.Values.apiKeys -}}
{{- if $tls.enabled }}
TARTAN_TLS_CERT_FILE: {{ printf "/etc/tartan/tls/%s" $tls.certKey | quote }}
TARTAN_TLS_KEY_FILE: {{ printf "/etc/tartan/tls/%s" $tls.keyKey | quote }}
{{- if $tls.clientAuth }}
TARTAN_TLS_CLIENT_CA_FILE: {{ printf "/etc/tartan/tls/%s" $tls.caKey | quote }}
{{- end }}
{{- if or (eq .component "router") (and (eq .component "indexer") .root.Values.indexer.shareCodec) }}
TARTAN_TLS_CA_FILE: {{ printf "/etc/tartan/tls/%s" $tls.caKey | quote }}
{{- if $tls.clientAuth }}
TARTAN_TLS_CLIENT_CERT_FILE: {{ printf "/etc/tartan/tls/%s" $tls.certKey | quote }}
TARTAN_TLS_CLIENT_KEY_FILE: {{ printf "/etc/tartan/tls/%s" $tls.keyKey | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- if and (eq .component "router") $keys.secretName }}
TARTAN_API_KEYS_FILE: {{ printf "/etc/tartan/api-keys/%s" $keys.key | quote }}
{{- end }}
{{- if or (not $tls.enabled) (and (eq .component "router") (not $keys.secretName)) }}
TARTAN_INSECURE: "true"
{{- end }}
{{- end -}}

{{/* Secret volumes for TLS / API keys; same arguments as tartan.securityConfig. */}}
{{- define "tartan.securityVolumes" -}}
{{- if .root.Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ required "tls.secretName is required when tls.enabled" .root.Values.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- if and (eq .component "router") .root.Values.apiKeys.secretName }}
- name: api-keys
  secret:
    secretName: {{ .root.Values.apiKeys.secretName }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "tartan.securityVolumeMounts" -}}
{{- if .root.Values.tls.enabled }}
- name: tls
  mountPath: /etc/tartan/tls
  readOnly: true
{{- end }}
{{- if and (eq .component "router") .root.Values.apiKeys.secretName }}
- name: api-keys
  mountPath: /etc/tartan/api-keys
  readOnly: true
{{- end }}
{{- end -}}

{{/*
Pod template metadata of one component: labels (global podLabels, the component's podLabels,
then the chart's own, which win) and annotations (the component's config checksum, global
podAnnotations, the component's). Call with
(dict "root" $ "component" "encoder" "values" .Values.encoder).
The checksum covers only this component's ConfigMap, so changing an encoder setting does not
restart the shards.
*/}}
{{- define "tartan.podMetadata" -}}
{{- $labels := merge (dict) (include "tartan.componentLabels" (dict "root" .root "component" .component) | fromYaml) (.values.podLabels | default dict) (.root.Values.podLabels | default dict) -}}
{{- $checksum := include (print .root.Template.BasePath "/configmap-" .component ".yaml") .root | sha256sum -}}
{{- $annotations := merge (dict "checksum/config" $checksum) (.values.podAnnotations | default dict) (.root.Values.podAnnotations | default dict) -}}
labels:
  {{- toYaml $labels | nindent 2 }}
annotations:
  {{- toYaml $annotations | nindent 2 }}
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
Call with (dict "root" $ "values" .Values.<component> "component" "<component>").
Probes use Kubernetes' native gRPC probe (grpc.health.v1, empty service name), which every
service answers SERVING only once the model is loaded / the shard recovered, and NOT_SERVING
while draining. It takes a port *number*: named ports are not resolved for gRPC probes.
Liveness on gRPC too, so a hung gRPC server is restarted; its failureThreshold x periodSeconds
(60 s by default) must stay above preStopSleepSeconds + drainGraceSeconds, or a draining pod
would be killed early. The kubelet's gRPC probe speaks plaintext only: with tls.enabled,
startup and readiness run tartan-healthcheck (the lifecycle gauge on the plaintext metrics
port) and liveness asks GET /metrics.
*/}}
{{- define "tartan.containerCommon" -}}
{{- $v := .values -}}
{{- $tls := .root.Values.tls.enabled -}}
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
{{- range $probe := list "startupProbe" "readinessProbe" "livenessProbe" }}
{{- $p := get $v $probe }}
{{ $probe }}:
  {{- if not $tls }}
  grpc:
    port: {{ int $v.ports.grpc }}
  {{- else if eq $probe "livenessProbe" }}
  httpGet:
    path: /metrics
    port: metrics
  {{- else }}
  exec:
    command: ["tartan-healthcheck", {{ $.component | quote }}, "{{ int $v.ports.metrics }}"]
  {{- end }}
  periodSeconds: {{ int $p.periodSeconds }}
  failureThreshold: {{ int $p.failureThreshold }}
  timeoutSeconds: {{ int (default 5 $p.timeoutSeconds) }}
{{- end }}
{{- with $v.resources }}
resources:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod-level scheduling and security; same arguments as tartan.containerCommon. */}}
{{- define "tartan.podCommon" -}}
{{- $v := .values -}}
terminationGracePeriodSeconds: {{ include "tartan.terminationGracePeriodSeconds" .root }}
serviceAccountName: {{ include "tartan.serviceAccountName" .root }}
automountServiceAccountToken: {{ .root.Values.serviceAccount.automountToken }}
enableServiceLinks: false
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default .root.Values.priorityClassName $v.priorityClassName) }}
priorityClassName: {{ . }}
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
