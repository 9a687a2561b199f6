{{/* Names, labels and the pieces every workload shares. */}}

{{- define "sab.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sab.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The name of one component's objects: <fullname>-<component>. */}}
{{- define "sab.componentName" -}}
{{- printf "%s-%s" (include "sab.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select one component's pods (stable across upgrades). */}}
{{- define "sab.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sab.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Every object's labels; `app: sip-server` and `component` keep the seed's kubectl commands working. */}}
{{- define "sab.labels" -}}
{{ include "sab.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
app: sip-server
component: {{ .component }}
{{- end -}}

{{/* An image reference: [registry/]repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "sab.image" -}}
{{- $img := index .root.Values.image .image -}}
{{- $tag := default .root.Chart.AppVersion .root.Values.image.tag -}}
{{- if .root.Values.image.registry -}}
{{- printf "%s/%s:%s" .root.Values.image.registry $img $tag -}}
{{- else -}}
{{- printf "%s:%s" $img $tag -}}
{{- end -}}
{{- end -}}

{{- define "sab.imagePullSecrets" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The Secret holding the HMAC secrets (JWT_SECRET_KEY, SIP_JWT_SECRET, SIP_SHARED_SECRET, PROXY_SHARED_SECRET, WEBHOOK_SIGNING_SECRET). */}}
{{- define "sab.secretName" -}}
{{- default (include "sab.componentName" (dict "root" . "component" "secrets")) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* The Secret holding DATABASE_URL (and the bundled database's password). */}}
{{- define "sab.databaseSecretName" -}}
{{- if and (not .Values.postgresql.enabled) .Values.externalDatabase.existingSecret -}}
{{- .Values.externalDatabase.existingSecret -}}
{{- else -}}
{{- include "sab.componentName" (dict "root" . "component" "database") -}}
{{- end -}}
{{- end -}}

{{- define "sab.databaseHost" -}}
{{- if .Values.postgresql.enabled -}}
{{- include "sab.componentName" (dict "root" . "component" "postgresql") -}}
{{- else -}}
{{- .Values.externalDatabase.host -}}
{{- end -}}
{{- end -}}

{{/*
A secret's base64 value: the one given in values, else the one already stored in the
release's Secret (so upgrades keep it), else a new random one.
Arguments: list <given> <existing Secret or empty dict> <key> <length>.
*/}}
{{- define "sab.secretValue" -}}
{{- $given := index . 0 -}}
{{- $existing := index . 1 -}}
{{- $key := index . 2 -}}
{{- $length := index . 3 -}}
{{- $data := (get $existing "data") | default dict -}}
{{- if $given -}}
{{- $given | b64enc -}}
{{- else if hasKey $data $key -}}
{{- index $data $key -}}
{{- else -}}
{{- randAlphaNum $length | b64enc -}}
{{- end -}}
{{- end -}}

{{/*
Environment every application container shares: secrets by reference (never inline),
DATABASE_URL, then the user's extraEnv (last, so it overrides).
*/}}
{{- define "sab.secretEnv" -}}
{{- $secret := include "sab.secretName" . -}}
{{- range $name := list "JWT_SECRET_KEY" "SIP_JWT_SECRET" "SIP_SHARED_SECRET" "PROXY_SHARED_SECRET" }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $name }}
{{- end }}
{{- /* Optional: a Secret made before call webhooks existed may lack it (then no webhook is sent, and the control-plane logs why). */}}
- name: WEBHOOK_SIGNING_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: WEBHOOK_SIGNING_SECRET
      optional: true
{{- if and (not .Values.postgresql.enabled) .Values.externalDatabase.existingSecret }}
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.externalDatabase.existingSecret }}
      key: {{ .Values.externalDatabase.existingSecretPasswordKey }}
- name: DATABASE_URL
  value: {{ printf "postgresql://%s:$(DATABASE_PASSWORD)@%s:%d/%s" .Values.externalDatabase.user .Values.externalDatabase.host (int .Values.externalDatabase.port) .Values.externalDatabase.database | quote }}
{{- else }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "sab.databaseSecretName" . }}
      key: DATABASE_URL
{{- end }}
{{- end -}}

{{- define "sab.extraEnv" -}}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by the application pods. */}}
{{- define "sab.appSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Fails the render on combinations the schema cannot express. */}}
{{- define "sab.validate" -}}
{{- if and (eq .Values.networkPolicy.profile "strict") .Values.networkPolicy.enabled .Values.kamailio.hostNetwork -}}
{{- fail "networkPolicy.profile=strict needs kamailio.hostNetwork=false: NetworkPolicies do not apply to host-network pods, so Kamailio publishes SIP through hostPorts instead" -}}
{{- end -}}
{{- if and (eq .Values.networkPolicy.profile "strict") .Values.networkPolicy.enabled (empty .Values.networkPolicy.trunkCidrs) -}}
{{- fail "networkPolicy.profile=strict needs networkPolicy.trunkCidrs: the networks of your SIP trunks (and phones) allowed to reach SIP" -}}
{{- end -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.externalDatabase.url) (not .Values.externalDatabase.host) -}}
{{- fail "postgresql.enabled=false needs externalDatabase.url or externalDatabase.host" -}}
{{- end -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.externalDatabase.url) (not .Values.externalDatabase.existingSecret) (not .Values.externalDatabase.password) -}}
{{- fail "externalDatabase.host needs externalDatabase.password or externalDatabase.existingSecret" -}}
{{- end -}}
{{- if ge (int .Values.rtpengine.rtpPortMin) (int .Values.rtpengine.rtpPortMax) -}}
{{- fail "rtpengine.rtpPortMin must be below rtpengine.rtpPortMax" -}}
{{- end -}}
{{- if ge (int .Values.mediaGateway.rtpPortMin) (int .Values.mediaGateway.rtpPortMax) -}}
{{- fail "mediaGateway.rtpPortMin must be below mediaGateway.rtpPortMax" -}}
{{- end -}}
{{- if gt (int .Values.mediaGateway.autoscaling.minReplicas) (int .Values.mediaGateway.autoscaling.maxReplicas) -}}
{{- fail "mediaGateway.autoscaling.minReplicas must not exceed maxReplicas" -}}
{{- end -}}
{{- end -}}

{{/*
Strict egress of the control-plane and the gateways: DNS, this release's pods, the AI
platform, rtpengine (on the nodes' network: its ng port, and RTP for the gateways), and an
external database when there is one.
*/}}
{{- define "sab.strictEgress" -}}
{{- $root := .root -}}
{{- $np := $root.Values.networkPolicy -}}
{{- $nodes := default (list "0.0.0.0/0") $np.nodeCidrs -}}
- ports:
    - { protocol: UDP, port: 53 }
    - { protocol: TCP, port: 53 }
- to:
    - podSelector:
        matchLabels:
          app.kubernetes.io/instance: {{ $root.Release.Name }}
          app.kubernetes.io/name: {{ include "sab.name" $root }}
- to:
    {{- range $np.aiPlatformCidrs }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    {{- range $np.aiPlatformPorts }}
    - { protocol: TCP, port: {{ . }} }
    {{- end }}
- to:
    {{- range $nodes }}
    - ipBlock:
        cidr: {{ . }}
    {{- end }}
  ports:
    - { protocol: UDP, port: {{ $root.Values.rtpengine.ngPort }} }
    {{- if .rtp }}
    - protocol: UDP
      port: {{ $root.Values.rtpengine.rtpPortMin }}
      endPort: {{ $root.Values.rtpengine.rtpPortMax }}
    {{- end }}
{{- if not $root.Values.postgresql.enabled }}
- ports:
    - { protocol: TCP, port: {{ $root.Values.externalDatabase.port }} }
{{- end }}
{{- end -}}
