# Ferry's image: the gateway (`ferry serve`) and the node (`ferry node`) alike.
FROM node:22-bookworm-slim
WORKDIR /app
# onnxruntime-node's install script would fetch CUDA binaries; a GPU image sets this to an empty value.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund --ignore-scripts && npm rebuild onnxruntime-node
COPY . .
RUN npm run build && node dist/models/generate-cli.js && npm prune --omit=dev
ENV FERRY_LOG_LEVEL=info
EXPOSE 8000 7000 9100
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve", "examples/cluster.config.json", "--host", "0.0.0.0"]
