// js-libp2p 3.x calls Promise.withResolvers(), which Node.js has only from
// v22 on. Node 20 is what the build machines run, so add it when it is missing.
// Imported first by every module that loads libp2p.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}
