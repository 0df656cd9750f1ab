// Builds the notebook widget (src/widget.ts) from the page's modules into the Python package
// (src/spacelens/notebook/static/widget.js + widget.css), as one ES module that anywidget loads.
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    outDir: '../src/spacelens/notebook/static',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
    lib: { entry: 'src/widget.ts', formats: ['es'], fileName: () => 'widget.js', cssFileName: 'widget' },
    // The page's state.ts (handles on #dataset, #tooltip, ...) and api.ts (HTTP to the server)
    // come along with tooltip.ts's page functions; the widget uses neither, so they must not run
    // (or ship) in a notebook: importing them has no effect the widget needs.
    rolldownOptions: {
      treeshake: { moduleSideEffects: (id: string) => !/[\\/]src[\\/](state|api)\.ts$/.test(id) },
    },
  },
});
