{{/*
Chart name, truncated to 63 characters (DNS label limit).
*/}}
{{- define "inferx.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, plus the chart name unless it already contains it.
*/}}
{{- define "inferx.fullname" -}}
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

{{- define "inferx.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "inferx.selectorLabels" -}}
app.kubernetes.io/name: {{ include "inferx.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "inferx.labels" -}}
helm.sh/chart: {{ include "inferx.chart" . }}
{{ include "inferx.selectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | toString | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: inference
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
image: repository:tag, or repository@digest when image.digest is set.
*/}}
{{- define "inferx.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}
{{- end }}

{{- define "inferx.apiKeysSecretName" -}}
{{- if .Values.apiKeys.existingSecret }}
{{- .Values.apiKeys.existingSecret }}
{{- else }}
{{- printf "%s-api-keys" (include "inferx.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
"true" when INFERX_API_KEYS comes from a Secret.
*/}}
{{- define "inferx.apiKeysEnabled" -}}
{{- if or .Values.apiKeys.create .Values.apiKeys.existingSecret }}true{{ end }}
{{- end }}

{{/*
INFERX_DEVICE: server.device, with auto turned into cuda when gpu.enabled.
*/}}
{{- define "inferx.device" -}}
{{- $device := .Values.server.device | default "auto" | toString }}
{{- if and .Values.gpu.enabled (eq $device "auto") }}
{{- $device = "cuda" }}
{{- end }}
{{- $device }}
{{- end }}

{{/*
The pod spec shared by the Deployment and the KServe InferenceService predictor.
Call with (dict "ctx" $ "containerName" NAME "portName" NAME).
*/}}
{{- define "inferx.podSpec" -}}
{{- $root := .ctx }}
{{- $values := $root.Values }}
{{- with $values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
automountServiceAccountToken: false
enableServiceLinks: false
terminationGracePeriodSeconds: {{ $values.terminationGracePeriodSeconds }}
{{- with $values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if and $values.gpu.enabled $values.gpu.runtimeClassName }}
runtimeClassName: {{ $values.gpu.runtimeClassName }}
{{- end }}
{{- $nodeSelector := deepCopy ($values.nodeSelector | default dict) }}
{{- if $values.gpu.enabled }}
{{- $nodeSelector = merge $nodeSelector ($values.gpu.nodeSelector | default dict) }}
{{- end }}
{{- with $nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- $tolerations := $values.tolerations | default list }}
{{- if $values.gpu.enabled }}
{{- $tolerations = concat $tolerations ($values.gpu.tolerations | default list) }}
{{- end }}
{{- with $tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $values.topologySpread.enabled }}
topologySpreadConstraints:
  - maxSkew: {{ $values.topologySpread.maxSkew }}
    topologyKey: {{ $values.topologySpread.topologyKey }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "inferx.selectorLabels" $root | nindent 8 }}
{{- end }}
containers:
  - name: {{ .containerName }}
    image: {{ include "inferx.image" $root | quote }}
    imagePullPolicy: {{ $values.image.pullPolicy }}
    args: ["serve"]
    ports:
      - name: {{ .portName }}
        containerPort: {{ $values.server.port }}
        protocol: TCP
    env:
      - name: INFERX_HOST
        value: "0.0.0.0"
      - name: INFERX_PORT
        value: {{ $values.server.port | toString | quote }}
      - name: INFERX_DEVICE
        value: {{ include "inferx.device" $root | quote }}
      - name: INFERX_SHUTDOWN_DRAIN_DELAY_MS
        value: {{ $values.server.drainDelayMs | toString | quote }}
      - name: INFERX_SHUTDOWN_GRACE_PERIOD_MS
        value: {{ $values.server.gracePeriodMs | toString | quote }}
      {{- if $values.server.intraThreads }}
      - name: INFERX_INTRA_THREADS
        value: {{ $values.server.intraThreads | toString | quote }}
      {{- end }}
      {{- if $values.server.logLevel }}
      - name: INFERX_LOG
        value: {{ $values.server.logLevel | quote }}
      {{- end }}
      {{- if include "inferx.apiKeysEnabled" $root }}
      - name: INFERX_API_KEYS
        valueFrom:
          secretKeyRef:
            name: {{ include "inferx.apiKeysSecretName" $root }}
            key: {{ $values.apiKeys.secretKey }}
      {{- end }}
      {{- with $values.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    startupProbe:
      httpGet:
        path: /ready
        port: {{ .portName }}
      {{- toYaml $values.probes.startup | nindent 6 }}
    livenessProbe:
      httpGet:
        path: /health
        port: {{ .portName }}
      {{- toYaml $values.probes.liveness | nindent 6 }}
    readinessProbe:
      httpGet:
        path: /ready
        port: {{ .portName }}
      {{- toYaml $values.probes.readiness | nindent 6 }}
    {{- $resources := deepCopy ($values.resources | default dict) }}
    {{- if $values.gpu.enabled }}
    {{- $limits := deepCopy (get $resources "limits" | default dict) }}
    {{- $_ := set $limits $values.gpu.resourceName $values.gpu.count }}
    {{- $_ := set $resources "limits" $limits }}
    {{- end }}
    {{- with $resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with $values.securityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- if $values.tensorrtCache.enabled }}
    volumeMounts:
      - name: trt-cache
        mountPath: /app/.inferx/trt-cache
    {{- end }}
{{- if $values.tensorrtCache.enabled }}
volumes:
  - name: trt-cache
    {{- if $values.tensorrtCache.existingClaim }}
    persistentVolumeClaim:
      claimName: {{ $values.tensorrtCache.existingClaim }}
    {{- else }}
    emptyDir:
      sizeLimit: {{ $values.tensorrtCache.sizeLimit }}
    {{- end }}
{{- end }}
{{- end }}
