// Times are sent in UTC; show them in the reader's own zone (UTC stays on hover).
(function () {
  var fmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  document.querySelectorAll('time[datetime]').forEach(function (el) {
    var d = new Date(el.getAttribute('datetime'));
    if (isNaN(d.getTime())) return;
    el.textContent = fmt.format(d);
    el.title = d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  });
})();
