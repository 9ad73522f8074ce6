# The JetStream MaxText server image tpustack's JetStream stacks run (tpustack.core.engines.JETSTREAM_ENGINE):
# MaxText at tag tpu-recipes-v0.1.4 on the JAX 0.6.1 AI image that tpu-recipes pairs with it, JetStream at its final
# commit (server, benchmark client and its deps), and CPU torch for MaxText's checkpoint converter. No public image
# has these together (maxengine-server:v0.2.2 is MaxText jetstream-v0.2.2: no llama3.1-8b, no tiktoken asset).
#
#   gcloud artifacts repositories create tpustack --repository-format=docker --location=REGION
#   gcloud builds submit --region=REGION --tag REGION-docker.pkg.dev/PROJECT/tpustack/jetstream-maxtext:mt-trv014-js29329e8-jax061 \
#     --file workloads/images/jetstream-maxtext.Dockerfile workloads/images
#
# Keep the tag in step with JETSTREAM_IMAGE_TAG; after the first push, pin engine.image to its @sha256 digest.
ARG BASE_IMAGE=us-docker.pkg.dev/cloud-tpu-images/jax-ai-image/tpu:jax0.6.1-rev1
FROM ${BASE_IMAGE}

ARG MAXTEXT_REF=9f1820b472ef362e7b5c782fe1d6fda8a0943eff
ARG JETSTREAM_REF=29329e8e73820993f77cfc8efe34eb2a73f5de98

# MaxText's code at /deps, as its own jax-ai-image build lays it out (maxtext_jax_ai_image.Dockerfile: WORKDIR /deps);
# its requirements for that base image, then JetStream pinned over the unpinned git main those requirements name.
WORKDIR /deps
ADD https://github.com/AI-Hypercomputer/maxtext/archive/${MAXTEXT_REF}.tar.gz /tmp/maxtext.tar.gz
RUN tar -xzf /tmp/maxtext.tar.gz --strip-components=1 -C /deps && rm /tmp/maxtext.tar.gz \
 && python3 -m pip install --no-cache-dir -r requirements_with_jax_ai_image.txt \
 && python3 -m pip install --no-cache-dir --no-deps --force-reinstall \
      "google-jetstream @ https://github.com/AI-Hypercomputer/JetStream/archive/${JETSTREAM_REF}.zip" \
 && python3 -m pip install --no-cache-dir "nltk==3.8.1" evaluate rouge-score scikit-learn tqdm tiktoken \
 && python3 -m pip install --no-cache-dir torch --index-url https://download.pytorch.org/whl/cpu

# Check at build time what the stack relies on (tpustack.core.engines): the model config, the tokenizer asset, the
# server and converter modules, and the benchmark client (imported from outside /deps: MaxText's own benchmarks/
# package would shadow JetStream's there).
RUN test -f MaxText/configs/models/llama3.1-8b.yml && test -f assets/tokenizer_llama3.tiktoken \
 && python3 -c "import importlib.util as u; assert all(u.find_spec(m) for m in ('MaxText.maxengine_server', 'MaxText.llama_or_mistral_ckpt', 'MaxText.generate_param_only_checkpoint'))" \
 && cd / && python3 -c "import benchmarks.benchmark_serving, jetstream.core.server_lib"
